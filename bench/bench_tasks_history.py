"""Timings of the record's Tasks tab with a long history, on SQLite.

    python bench/bench_tasks_history.py [--events 10000,100000] [--requests 20]

Builds a fresh migrated SQLite file per size under a temporary directory,
gives one contact that many history events (notes, appointments, e-mails
and web forms, one minute apart), then times the Tasks tab through the test
client for the first page, page 100 and the last page, next to the record's
General tab as the cost of the page around it. Prints the median and p90 in
milliseconds. Nothing leaves the process.
"""

import argparse
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import PASSWORD, app_config, on_path

on_path()

KINDS = ("note_added", "appointment", "email_sent", "form_submitted")


def _build(db_file: Path, events: int):
    from flask_migrate import upgrade
    from sqlalchemy import insert

    from crm import create_app
    from crm.activity.models import ActivityEvent
    from crm.auth import services as auth
    from crm.contacts.models import Contact
    from crm.extensions import db

    app = create_app(app_config(db_file, TESTING=True))
    with app.app_context():
        upgrade(revision="heads")
        user = auth.create_user("history-bench@example.com", PASSWORD, is_admin=True)
        contact = Contact(given_name="Long", family_name="History", owner=user)
        db.session.add(contact)
        db.session.commit()
        start = datetime(2020, 1, 1, tzinfo=UTC)
        for offset in range(0, events, 10_000):
            rows = [
                {
                    "contact_id": contact.id,
                    "kind": KINDS[i % len(KINDS)],
                    "occurred_at": start + timedelta(minutes=i),
                    "subject": f"Event {i}",
                }
                for i in range(offset, min(offset + 10_000, events))
            ]
            db.session.execute(insert(ActivityEvent), rows)
            db.session.commit()
        return app, contact.id


def _time(client, url, requests) -> list[float]:
    client.get(url)  # warm-up
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="10000,100000")
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        for size in (int(n) for n in args.events.split(",")):
            app, contact_id = _build(Path(folder) / f"history-{size}.sqlite", size)
            client = app.test_client()
            with app.app_context():
                login = client.get("/login").get_data(as_text=True)
                token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login)
                client.post(
                    "/login",
                    data={
                        "email": "history-bench@example.com",
                        "password": PASSWORD,
                        "csrf_token": token.group(1),
                    },
                )
            record = f"/admin/contact/details/?id={contact_id}"
            last = max(size // 25, 1)
            cases = (
                ("General", f"{record}&tab=general"),
                ("page 1", f"{record}&tab=tasks&page=1"),
                ("page 100", f"{record}&tab=tasks&page=100"),
                ("last", f"{record}&tab=tasks&page={last}"),
            )
            for label, url in cases:
                samples = sorted(_time(client, url, args.requests))
                p90 = samples[int(len(samples) * 0.9) - 1]
                print(
                    f"{size:>8} events  {label:<9} p50 "
                    f"{statistics.median(samples):6.1f} ms  p90 {p90:6.1f} ms"
                )


if __name__ == "__main__":
    main()
