"""Submissions per second of the public web form, on one worker over SQLite.

    python bench/bench_webforms.py [--seconds 15] [--connections 4]

A fresh SQLite file is migrated, one form is made (e-mail, first and last
name, a tag to apply, a score rule for the form), and the app is served by
one single-threaded werkzeug worker on 127.0.0.1 in its own process. The
load comes from wrk (Debian package ``wrk``) in another process, with a Lua
script that posts a new contact each time (a unique e-mail address) with the
form's signed token, as a browser would after opening the page. The rate
limits and the minimum fill time are set out of the way for the run.
Afterwards the database is checked: every 200 answer must have made exactly
one contact and one processed submission. Prints the rate, latencies, errors
and the ratio to the goal of 200 submissions a second.
"""

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import MIGRATIONS, app_config, on_path

on_path()

HOST = "127.0.0.1"
GOAL = 200  # submissions a second
OUT_OF_THE_WAY = {
    "WEBFORMS_SOFT_LIMIT_PER_ADDRESS": 10**9,
    "WEBFORMS_HARD_LIMIT_PER_ADDRESS": 10**9,
    "WEBFORMS_SOFT_LIMIT_PER_FORM": 10**9,
    "WEBFORMS_HARD_LIMIT_PER_FORM": 10**9,
}
LUA = """
local counter = 0
local prefix = "t"
function setup(thread)
  thread:set("prefix", "t" .. tostring(math.random(1, 10^9)))
end
function request()
  counter = counter + 1
  local body = "_token=" .. TOKEN
    .. "&email=" .. prefix .. "-" .. counter .. "%40load.example"
    .. "&given_name=Load&family_name=Visitor" .. counter
  return wrk.format("POST", PATH,
    {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
"""


def config(db_file: Path, secret: str, later: bool = False) -> dict:
    return {
        **app_config(db_file),
        "SECRET_KEY": secret,
        "WEBFORMS_PROCESS_LATER": later,
        **OUT_OF_THE_WAY,
    }


def prepare(db_file: Path, secret: str) -> str:
    """Migrate the file and make the form; returns its slug."""
    from flask_migrate import upgrade

    from crm import create_app
    from crm.extensions import db
    from crm.scoring.models import ScoreRule
    from crm.tags.models import Tag
    from crm.webforms import services
    from crm.webforms.models import WebForm, WebFormField

    app = create_app(config(db_file, secret))
    with app.app_context():
        upgrade(directory=str(MIGRATIONS), revision="heads")
        form = WebForm(name="Load test", min_fill_seconds=0)
        for position, key in enumerate(("email", "given_name", "family_name"), 1):
            form.fields.append(
                WebFormField(key=key, position=position, required=key == "email")
            )
        form.tags.append(Tag(name="Web lead"))
        services.check_form(form)
        db.session.add(form)
        db.session.flush()
        db.session.add(
            ScoreRule(
                name="Load form",
                trigger="form_submitted",
                target=f"form:{form.id}",
                points=1,
            )
        )
        db.session.commit()
        slug = form.slug
        db.engine.dispose()
    return slug


def serve(db_file: Path, secret: str, later: bool) -> None:
    """Run the app on a free loopback port; print the port, then serve."""
    import gc
    import logging

    from werkzeug.serving import WSGIRequestHandler, make_server

    from crm import create_app

    app = create_app(config(db_file, secret, later))
    logging.getLogger("crm").setLevel(logging.WARNING)
    gc.freeze()  # as wsgi.py does after start-up

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):
            pass

    server = make_server(
        HOST, 0, app, threaded=False, processes=1, request_handler=QuietHandler
    )
    print(server.server_port, flush=True)
    server.serve_forever()


def _token(base: str, slug: str) -> str:
    import requests

    page = requests.get(f"{base}/f/{slug}", timeout=10).text
    return re.search(r'name="_token" value="([^"]+)"', page).group(1)


def _wrk(base, slug, token, seconds, connections, workdir) -> str:
    script = workdir / "post_form.lua"
    script.write_text(f'TOKEN = "{token}"\nPATH = "/f/{slug}"\n' + LUA)
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(script),
        base,
    ]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _figure(pattern, text, default="0"):
    match = re.search(pattern, text)
    return match.group(1) if match else default


def process_backlog(db_file: Path, secret: str) -> tuple[int, float]:
    """Run the queue processing in this process; (processed, seconds)."""
    import logging

    from crm import create_app
    from crm.webforms import services

    app = create_app(config(db_file, secret, True))
    logging.getLogger("crm").setLevel(logging.WARNING)
    total, started = 0, time.perf_counter()
    with app.app_context():
        while done := services.process_queued(500):
            total += done
    return total, time.perf_counter() - started


def run(mode: str, seconds: int, connections: int) -> bool:
    """One run in ``mode`` ("sync" or "queued"); prints figures, returns the verdict."""
    import secrets

    later = mode == "queued"
    secret = secrets.token_hex(32)
    workdir = Path(tempfile.mkdtemp(prefix="bench-webforms-"))
    db_file = workdir / "webforms.sqlite"
    slug = prepare(db_file, secret)
    command = [sys.executable, __file__, "--serve", "--db", str(db_file)]
    command += ["--secret", secret] + (["--later"] if later else [])
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        port = server.stdout.readline().strip()
        if not port.isdigit():
            raise SystemExit("the server did not start")
        base = f"http://{HOST}:{port}"
        token = _token(base, slug)
        time.sleep(0.2)
        cpu_before = _cpu_seconds(server.pid)
        output = _wrk(base, slug, token, seconds, connections, workdir)
        cpu = _cpu_seconds(server.pid) - cpu_before
    finally:
        server.terminate()
        server.wait(timeout=10)

    rate = float(_figure(r"Requests/sec:\s+([\d.]+)", output))
    done = int(_figure(r"(\d+) requests in", output))
    non_2xx = int(_figure(r"Non-2xx or 3xx responses: (\d+)", output))
    socket_errors = _figure(r"Socket errors: (.*)", output, "none")
    backlog = process_backlog(db_file, secret) if later else None
    con = sqlite3.connect(db_file)
    contacts = con.execute("SELECT count(*) FROM contacts").fetchone()[0]
    processed = con.execute(
        "SELECT count(*) FROM webform_submissions WHERE state = 'processed'"
    ).fetchone()[0]
    con.close()

    p50, p90, p99 = (_figure(rf"{p}%\s+(\S+)", output) for p in (50, 90, 99))
    print(f"{mode}: web form submissions, one werkzeug worker, SQLite, wrk, 127.0.0.1")
    print(f"  connections        {connections}, {seconds} s")
    print(f"  submissions/s      {rate:.1f}")
    print(f"  p50 / p90 / p99    {p50} / {p90} / {p99}")
    per_request = cpu / max(done, 1) * 1000
    print(
        f"  server CPU         {per_request:.2f} ms a submission, so "
        f"{1000 / per_request:.0f}/s on one free core"
    )
    print(
        f"  answered           {done}, non-2xx {non_2xx}, socket errors {socket_errors}"
    )
    if backlog:
        print(
            f"  queue processed    {backlog[0]} in {backlog[1]:.1f} s "
            f"({backlog[0] / backlog[1]:.1f}/s, one process)"
        )
    print(f"  contacts stored    {contacts}, processed submissions {processed}")
    print(f"  ratio to the goal  {rate / GOAL:.2f} (goal {GOAL}/s)")
    # wrk stops counting at the deadline; the requests still in flight then
    # were answered and stored too (at most one per connection).
    ok = (
        non_2xx == 0
        and socket_errors == "none"
        and contacts == processed
        and 0 <= contacts - done <= connections
    )
    verdict = ok and rate >= GOAL
    print(f"  verdict            {'PASS' if verdict else 'FAIL'}")
    print()
    shutil.rmtree(workdir, ignore_errors=True)
    return verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--mode", choices=("sync", "queued", "both"), default="both")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--later", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.db, args.secret, args.later)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    modes = ("sync", "queued") if args.mode == "both" else (args.mode,)
    for mode in modes:
        run(mode, args.seconds, args.connections)


if __name__ == "__main__":
    main()
