"""Throughput of the tracking collector: page-view beacons a second.

    python bench/bench_tracking.py [--beacons 3000] [--clients 8] [--visitors 300]

Builds a fresh SQLite file through the migrations with one registered site,
serves the app in one process (werkzeug, threaded) on 127.0.0.1, and sends
``--beacons`` view beacons from ``--clients`` threads, spread over
``--visitors`` browsers with a "left" beacon after every view, as the script
sends them. Prints beacons a second, p50/p95 latency, failures, and the ratio
against the stated goal of 200 beacons a second on one worker. Nothing
leaves the loopback interface.
"""

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from common import app_config, on_path

on_path()

HOST = "127.0.0.1"
ORIGIN = "https://shop.example.com"
GOAL_PER_SECOND = 200


def build(db_file: Path) -> str:
    """A migrated database with one site; returns its site key."""
    from flask_migrate import upgrade

    from crm import create_app
    from crm.extensions import db
    from crm.tracking import services
    from crm.tracking.models import TrackedSite

    app = create_app(app_config(db_file))
    with app.app_context():
        upgrade(revision="heads")
        site = TrackedSite(name="Bench shop", origins=ORIGIN)
        services.clean_site(site)
        db.session.add(site)
        db.session.commit()
        key = site.site_key
        db.engine.dispose()
    return key


def serve_forever(db_file: Path, port: int) -> None:
    """The server process: the app alone on one port, threaded, no request log."""
    import logging

    from werkzeug.serving import make_server

    from crm import create_app

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = create_app(app_config(db_file))
    make_server(HOST, port, app, threaded=True).serve_forever()


def start_server(db_file: Path):
    """Run the app in its own process so the clients do not share its GIL."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(db_file), "--port", str(port)]
    )
    base = f"http://{HOST}:{port}"
    for _attempt in range(200):
        try:
            requests.get(f"{base}/healthz", timeout=1)
            return process, base
        except requests.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the app did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beacons", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--visitors", type=int, default=300)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_forever(Path(args.serve), args.port)
        return

    with tempfile.TemporaryDirectory() as folder:
        db_file = Path(folder) / "tracking.sqlite"
        key = build(db_file)
        server, base = start_server(db_file)
        url = f"{base}/t/collect"
        local = threading.local()

        def send(n: int) -> tuple[float, bool]:
            if not hasattr(local, "session"):
                local.session = requests.Session()
            visitor = f"bench-visitor-{n % args.visitors:08d}"
            view = f"bench-view-{n:012d}"
            if n % 2 == 0:
                body = {
                    "e": "view",
                    "k": key,
                    "v": visitor,
                    "p": view,
                    "u": f"{ORIGIN}/page/{n % 40}",
                    "t": "Page",
                    "r": "",
                }
            else:
                body = {
                    "e": "leave",
                    "k": key,
                    "v": visitor,
                    "p": f"bench-view-{n - 1:012d}",
                    "s": 12,
                }
            started = time.perf_counter()
            response = local.session.post(
                url,
                data=json.dumps(body),
                headers={"Origin": ORIGIN, "Content-Type": "text/plain"},
                timeout=30,
            )
            return time.perf_counter() - started, response.status_code == 204

        for n in range(20):  # warm-up
            send(10_000_000 + n * 2)
        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            results = list(pool.map(send, range(args.beacons)))
        elapsed = time.perf_counter() - started
        server.terminate()
        server.wait(timeout=10)

    latencies = sorted(r[0] * 1000 for r in results)
    failures = sum(1 for r in results if not r[1])
    rate = len(results) / elapsed
    print(f"beacons: {len(results)} from {args.clients} clients in {elapsed:.2f} s")
    print(f"rate: {rate:.0f} beacons/s, failures: {failures}")
    print(
        f"latency p50 {statistics.median(latencies):.1f} ms, "
        f"p95 {latencies[int(len(latencies) * 0.95) - 1]:.1f} ms"
    )
    print(f"ratio to the goal of {GOAL_PER_SECOND}/s: {rate / GOAL_PER_SECOND:.2f}")


if __name__ == "__main__":
    main()
