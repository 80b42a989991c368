"""HTTP timings of the record's activity tab over a 10,000-event history.

    python bench/bench_history.py [--db bench/data/history.sqlite] [--requests 50]

Builds (once) a SQLite file through the migrations with one contact whose
history holds 10,000 events (tags applied and removed, a quarter of them
scored by rules, so the tab also sums and lists score entries), then serves
our app and a plain Flask-Admin list of the events table, each in its own
single-threaded process on 127.0.0.1. After a warm-up, every round sends
one request per case to each side in turn. Prints p50/p95 wall-clock and
the server's CPU p50 per case. Nothing leaves the loopback interface.
"""

import argparse
import statistics
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from bench_http import _cpu_timed, _login, _timed
from common import ADMIN_EMAIL, DATA, MIGRATIONS, PASSWORD, app_config, on_path

on_path()

HOST = "127.0.0.1"
HISTORY = 10_000
TAGS = 20
SCORED_TAGS = 5
PAGE_SIZE = 25  # the tab's page; the scaffold is set to the same
TARGET_P50_MS = 30
HISTORY_EMAIL = "history@example.com"


def build(out: Path) -> None:
    """A fresh file: an administrator, one contact and its 10,000 events."""
    from flask_migrate import upgrade
    from sqlalchemy import select

    from crm import create_app
    from crm.activity import services as activity
    from crm.auth import services as users
    from crm.contacts.models import Contact, ContactEmail
    from crm.extensions import db
    from crm.scoring.models import ScoreEntry, ScoreRule
    from crm.tags.models import Tag

    out.parent.mkdir(parents=True, exist_ok=True)
    app = create_app(app_config(out))
    with app.app_context():
        upgrade(directory=str(MIGRATIONS), revision="heads")
        users.create_user(ADMIN_EMAIL, PASSWORD, name="Bench Admin", is_admin=True)
        contact = Contact(given_name="Hilda", family_name="History")
        contact.emails.append(ContactEmail(address=HISTORY_EMAIL))
        db.session.add(contact)
        from crm.contacts import services as contacts

        contacts.prepare(contact, None, is_new=True)
        tags = [Tag(name=f"Interest {i}") for i in range(TAGS)]
        db.session.add_all(tags)
        db.session.flush()
        for tag in tags[:SCORED_TAGS]:
            db.session.add(
                ScoreRule(
                    name=f"Likes {tag.name}",
                    trigger="tag_applied",
                    target=f"tag:{tag.id}",
                    points=2,
                    expires_weeks=26,
                )
            )
        db.session.flush()

        start = datetime.now(UTC) - timedelta(minutes=HISTORY)
        rows = []
        for i in range(HISTORY):
            tag = tags[i % TAGS]
            rows.append(
                {
                    "contact_id": contact.id,
                    "kind": "tag_applied" if i % 2 == 0 else "tag_removed",
                    "subject": tag.name,
                    "ref": ("tag", tag.id),
                    "target": f"tag:{tag.id}",
                    "occurred_at": start + timedelta(minutes=i),
                }
            )
        activity.record_rows(rows)
        db.session.commit()
        entries = db.session.query(ScoreEntry).count()
        contact_id = db.session.scalar(select(Contact.id))
        db.engine.dispose()
    print(f"built {out}: contact {contact_id}, {HISTORY:,} events, {entries:,} scored")


def create_scaffold(db_file: Path):
    """A stock ModelView of the events table: page size ours, newest first."""
    from flask import Flask
    from flask_admin import Admin
    from flask_admin.contrib.sqla import ModelView
    from flask_admin.theme import Bootstrap4Theme
    from flask_babel import Babel
    from scaffold import _import_models

    _import_models()
    from crm.activity.models import ActivityEvent
    from crm.extensions import db

    class EventScaffold(ModelView):
        page_size = PAGE_SIZE
        column_default_sort = ("occurred_at", True)

    app = Flask("scaffold")
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{db_file}"
    app.config["SECRET_KEY"] = "scaffold-on-loopback-only"
    db.init_app(app)
    Babel(app)
    admin = Admin(app, name="Scaffold", theme=Bootstrap4Theme())
    admin.add_view(EventScaffold(ActivityEvent, db, endpoint="event"))
    return app


def serve(which: str, db_file: Path) -> None:
    """Run one app on a free loopback port; print the port, then serve."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    if which == "ours":
        import gc

        from crm import create_app

        app = create_app(app_config(db_file))
        gc.freeze()  # as wsgi.py does after start-up
    else:
        app = create_scaffold(db_file)

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):
            pass

    server = make_server(
        HOST, 0, _cpu_timed(app), threaded=False, processes=1,
        request_handler=QuietHandler,
    )  # fmt: skip
    print(server.server_port, flush=True)
    server.serve_forever()


def _start(which: str, db_file: Path) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", which, "--db", str(db_file)],
        stdout=subprocess.PIPE,
        text=True,
    )
    port = process.stdout.readline().strip()
    if not port.isdigit():
        process.kill()
        raise SystemExit(f"the {which} server did not start")
    return process, f"http://{HOST}:{port}"


def _contact_id(db_file: Path) -> int:
    import sqlite3

    con = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    (contact_id,) = con.execute(
        "SELECT contact_id FROM contact_emails WHERE address = ?", (HISTORY_EMAIL,)
    ).fetchone()
    con.close()
    return contact_id


def cases(contact_id: int) -> list[tuple[str, str, str]]:
    """(case, side, URL) for every case."""
    record = f"/admin/contact/details/?id={contact_id}"
    deep = HISTORY // PAGE_SIZE // 2
    return [
        ("activity tab, page 1", "ours", f"{record}&tab=activity"),
        ("activity tab, page 200", "ours", f"{record}&tab=activity&page={deep}"),
        ("activity tab, tags, p. 2", "ours", f"{record}&tab=activity&kind=tag&page=2"),
        ("tasks tab (placeholder)", "ours", f"{record}&tab=tasks"),
        ("events list, page 1", "scaffold", "/admin/event/"),
        ("events list, page 200", "scaffold", f"/admin/event/?page={deep - 1}"),
    ]


def _pct(values, q):
    return statistics.quantiles(values, n=20, method="inclusive")[q - 1]


def run(db_file: Path, rounds: int, warmup: int) -> list[dict]:
    plan = cases(_contact_id(db_file))
    servers = []
    try:
        ours_proc, ours = _start("ours", db_file)
        servers.append(ours_proc)
        scaffold_proc, scaffold = _start("scaffold", db_file)
        servers.append(scaffold_proc)
        sides = {
            "ours": (_login(ours), ours),
            "scaffold": (requests.Session(), scaffold),
        }
        rows = {}
        for case, side, url in plan:
            session, base = sides[side]
            for _ in range(warmup):
                _, _, size, html = _timed(session, base + url)
            rows[case] = (
                html.count('class="activity-event"') or html.count("<tr") - 1,
                size,
            )
        times = {case: [] for case, _, _ in plan}
        cpu = {case: [] for case, _, _ in plan}
        for _ in range(rounds):
            for case, side, url in plan:
                session, base = sides[side]
                elapsed, used, _, _ = _timed(session, base + url)
                times[case].append(elapsed)
                cpu[case].append(used)
    finally:
        for process in servers:
            process.terminate()
            process.wait(timeout=10)

    return [
        {
            "case": case,
            "side": side,
            "p50": statistics.median(times[case]),
            "p95": _pct(times[case], 19),
            "cpu_p50": statistics.median(cpu[case]),
            "rows": rows[case][0],
            "kb": rows[case][1] / 1024,
        }
        for case, side, _ in plan
    ]


def print_report(report: list[dict], rounds: int) -> None:
    print(f"wall-clock ms per request over HTTP, {rounds} rounds; cpu = server CPU ms")
    head = (
        f"{'case':<26} {'side':<9} {'p50':>7} {'p95':>7} {'cpu p50':>8} "
        f"{'rows':>5} {'KB':>6}  target"
    )
    print(head)
    print("-" * len(head))
    for r in report:
        verdict = ""
        if r["side"] == "ours" and r["case"].startswith("activity"):
            met = r["p50"] <= TARGET_P50_MS
            verdict = f"p50 <= {TARGET_P50_MS} ms: " + ("met" if met else "MISSED")
        print(
            f"{r['case']:<26} {r['side']:<9} {r['p50']:>7.1f} {r['p95']:>7.1f} "
            f"{r['cpu_p50']:>8.1f} {r['rows']:>5} {r['kb']:>6.1f}  {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=DATA / "history.sqlite")
    parser.add_argument("--requests", type=int, default=50, help="rounds per case")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true", help="build the file again")
    parser.add_argument("--serve", choices=("ours", "scaffold"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    db_file = args.db.resolve()
    if args.serve:
        serve(args.serve, db_file)
        return
    if args.rebuild and db_file.exists():
        db_file.unlink()
    if not db_file.exists():
        build(db_file)
    print_report(run(db_file, args.requests, args.warmup), args.requests)


if __name__ == "__main__":
    main()
