"""Steps per second and due-to-done latency of the automation workers.

    python bench/bench_automation.py --database-url sqlite --steps 20000
    python bench/bench_automation.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Builds a fresh database through the migrations (a temporary SQLite file, or
a new PostgreSQL database on the server given, dropped afterwards), puts
``--steps`` contacts each with one due step, then starts ``--workers``
worker processes exactly as ``flask scheduler run`` does and times the
drain. With ``--rate`` the steps fall due spread over time at that many per
second, so the latency (finished minus due) is measured at that load; with
no rate they are all due at once and the figure is the throughput.

The step applies a tag (``--action tag``) or sends an e-mail (``--action
email``) through the mail domain's batch send (``crm.mail.services``
``prepare_many`` and ``deliver_many``, as the workers call it for the e-mail
rows of a chunk) into a local SMTP server (aiosmtpd on 127.0.0.1, in a
process of its own so it does not share the workers' or this script's
interpreter). ``bench_smtp_ceiling.py`` measures what that server takes
from plain smtplib clients, ``profile_automation.py`` profiles one worker.
``--kill-one`` sends SIGKILL to one worker once a quarter of the steps is
done and returns its claims as the scheduler's beat would; the e-mails the
server received are then compared with the runs by idempotency key: keys
missing (losses) and keys received more than once (repeats).

    python bench/bench_automation.py --action email --workers 4 --kill-one \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""

import argparse
import multiprocessing
import os
import shutil
import signal
import statistics
import tempfile
import time
import uuid
from collections import Counter
from datetime import timedelta

from common import on_path

on_path()


KEY_HEADER = b"X-CRM-Idempotency-Key: "


def _smtp_main(port, ready, stop, results):
    """A counting SMTP server (own process): the keys of what it received."""
    import asyncio

    from aiosmtpd.controller import Controller

    keys = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            for line in envelope.content.splitlines():
                if line.startswith(KEY_HEADER):
                    keys.append(line[len(KEY_HEADER) :].decode().strip())
                    break
            return "250 Message accepted"

    asyncio.set_event_loop(asyncio.new_event_loop())
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()
    results.send(keys)


class SmtpProcess:
    def __init__(self):
        from tests.mailserver import _free_port

        self.port = _free_port()
        context = multiprocessing.get_context("spawn")
        self.ready, self.stop_event = context.Event(), context.Event()
        self.receiver, sender = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_smtp_main,
            args=(self.port, self.ready, self.stop_event, sender),
            name="bench-smtp",
        )

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    def start(self):
        self.process.start()
        assert self.ready.wait(30), "the SMTP server did not start"
        return self

    def keys(self):
        """Stop the server; the idempotency keys it received, in order."""
        self.stop_event.set()
        keys = self.receiver.recv()
        self.process.join(10)
        return keys


def _database(url: str):
    """(database URL, cleanup) for a fresh database on the server ``url`` names."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if url == "sqlite":
        directory = tempfile.mkdtemp(prefix="crm-bench-automation-")
        return f"sqlite:///{directory}/bench.sqlite", lambda: shutil.rmtree(directory)
    base = make_url(url)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"crm_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=name).render_as_string(False), drop


def _database_name(database_url: str) -> str | None:
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    return url.database if url.get_backend_name() == "postgresql" else None


def _seed(db, steps: int, action: str, rate: float | None):
    from sqlalchemy import update

    from crm.automation.models import StepRun
    from crm.core.db import utcnow
    from crm.tags.services import get_or_create_tag
    from tests.automation_load import seed

    if action == "email":
        settings = {"subject": "Benchmark", "html": "<p>Benchmark e-mail</p>"}
        step = seed(steps, "send_email", settings)
    else:
        label = get_or_create_tag("Benchmark")
        db.session.commit()
        step = seed(steps, "apply_tag", {"tag_id": label.id})

    # Push every step into the future; the run starts when the workers are up.
    db.session.execute(
        update(StepRun)
        .where(StepRun.step_id == step.id)
        .values(due_at=utcnow() + timedelta(days=365))
    )
    db.session.commit()
    return step, rate


def _release(db, step, rate):
    """Make the steps due: all now, or spread at ``rate`` per second from now."""
    from sqlalchemy import select, update

    from crm.automation.models import StepRun
    from crm.core.db import utcnow

    start = utcnow()
    if not rate:
        db.session.execute(
            update(StepRun).where(StepRun.step_id == step.id).values(due_at=start)
        )
    else:
        ids = db.session.scalars(
            select(StepRun.id).where(StepRun.step_id == step.id).order_by(StepRun.id)
        ).all()
        # The first rows fall due a moment after the commit, so none is
        # late by the time it takes to write the due times (about a second
        # per thousand rows on a busy machine).
        start += timedelta(seconds=3 + len(ids) / 1000)
        db.session.execute(
            update(StepRun),
            [
                {"id": run_id, "due_at": start + timedelta(seconds=i / rate)}
                for i, run_id in enumerate(ids)
            ],
        )
    db.session.commit()
    if rate and utcnow() > start:
        print(f"the due times took too long to write: {utcnow() - start} late")
    return start


def _drain(db, step, steps, processes, kill_one):
    """Wait until every run is done; with ``kill_one``, SIGKILL a worker midway."""
    from crm.automation import engine
    from crm.automation.models import DONE
    from tests.automation_load import status_counts

    killed = None
    while status_counts(step.id).get(DONE, 0) < steps:
        if kill_one and killed is None:
            if status_counts(step.id).get(DONE, 0) >= steps // 4:
                killed = processes[0]
                os.kill(killed.pid, signal.SIGKILL)
                killed.join(10)
                print(f"worker {killed.name} killed with SIGKILL")
        if killed is not None:
            # The scheduler's beat, with a short claim timeout for the bench.
            engine.reap(timeout=timedelta(seconds=10))
        time.sleep(0.2)
    return [p for p in processes if p is not killed]


def _cpu_seconds(pid) -> float:
    """User and system CPU time process ``pid`` used so far (Linux /proc); 0 if gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _backends(database: str) -> list[int]:
    """The PostgreSQL server processes serving ``database`` (on this machine)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                words = cmdline.read().split()
        except OSError:
            continue
        if words[:1] == [b"postgres:"] and database.encode() in words:
            found.append(int(pid))
    return found


class CpuMeter:
    """CPU time of the workers, the SMTP server and this database's backends.

    The figure per step holds under other load on the machine, unlike the
    rate: it counts what these processes used, not how long they waited.
    """

    def __init__(self, processes, smtp, database: str | None, own_backend=None):
        self.roles = {
            "workers": [p.pid for p in processes],
            "SMTP server": [smtp.process.pid] if smtp is not None else [],
        }
        self.database, self.own_backend = database, own_backend
        self.start = self._read()

    def _read(self) -> dict[str, dict[int, float]]:
        roles = dict(self.roles)
        if self.database:
            # The backend of this script's own polling is counted apart.
            backends = _backends(self.database)
            roles["PostgreSQL"] = [b for b in backends if b != self.own_backend]
            roles["the bench's polling in PostgreSQL"] = [self.own_backend]
        return {
            role: {pid: _cpu_seconds(pid) for pid in pids}
            for role, pids in roles.items()
        }

    def per_step(self, steps: int, alive) -> str:
        """Milliseconds of CPU a step by role; ``alive`` are the workers left."""
        end = self._read()
        living = {p.pid for p in alive}
        parts = []
        for role, pids in end.items():
            used = sum(
                cpu - self.start[role].get(pid, 0.0)
                for pid, cpu in pids.items()
                if role != "workers" or pid in living
            )
            parts.append(f"{role} {used / steps * 1000:.2f} ms")
        return "CPU a step: " + ", ".join(parts)


def _compare(db, step, received):
    from sqlalchemy import select

    from crm.automation.models import StepRun

    keys = set(
        db.session.scalars(
            select(StepRun.idempotency_key).where(StepRun.step_id == step.id)
        )
    )
    counts = Counter(received)
    lost = len(keys - set(counts))
    repeats = sum(n - 1 for n in counts.values())
    strangers = len(set(counts) - keys)
    return f"SMTP received {len(received)}: {lost} lost, {repeats} repeated, " + (
        f"{strangers} unknown keys"
    )


def run(url, steps, workers, batch, action, rate, kill_one=False):
    from sqlalchemy import func, select, text

    from crm import create_app
    from crm.automation.models import DONE, StepAttempt, StepRun
    from crm.automation.scheduler import child_settings, stop_workers
    from crm.extensions import db
    from tests.automation_load import start_workers

    database_url, drop = _database(url)
    smtp = SmtpProcess().start() if action == "email" else None
    config = {"DATABASE_URL": database_url, "SECRET_KEY": "bench-automation"}
    if smtp is not None:
        config.update(MAIL_URL=smtp.url, MAIL_FROM="bench@example.com")
    app = create_app(config)
    comparison = ""
    try:
        with app.app_context():
            from flask_migrate import upgrade

            upgrade(revision="heads")
            step, rate = _seed(db, steps, action, rate)
            processes = start_workers(child_settings(app), workers, batch, poll=0.05)
            time.sleep(5)  # let the spawned workers build their apps
            start = _release(db, step, rate)
            began = time.perf_counter()
            own = None
            if db.engine.dialect.name == "postgresql":
                own = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
            meter = CpuMeter(processes, smtp, _database_name(database_url), own)
            processes = _drain(db, step, steps, processes, kill_one)
            elapsed = time.perf_counter() - began
            cpu = meter.per_step(steps, processes)
            stop_workers(processes)
            if smtp is not None:
                comparison = _compare(db, step, smtp.keys())
                smtp = None

            # Due to the end of the attempt that did it (the run's own
            # finished_at is the start of its chunk, the worker's clock).
            rows = db.session.execute(
                select(StepRun.due_at, func.max(StepAttempt.finished_at))
                .join(StepAttempt, StepAttempt.run_id == StepRun.id)
                .where(StepRun.step_id == step.id, StepAttempt.outcome == DONE)
                .group_by(StepRun.id, StepRun.due_at)
            ).all()
            by_due = [(f - d).total_seconds() for d, f in sorted(rows)]
            tenths = [
                statistics.median(
                    by_due[i * len(by_due) // 10 : (i + 1) * len(by_due) // 10]
                )
                for i in range(10)
            ]
            lateness = sorted(by_due)
            p95 = lateness[int(len(lateness) * 0.95) - 1]
            engine = db.engine.dialect.name
            db.session.remove()
            db.engine.dispose()
    finally:
        if smtp is not None:
            smtp.keys()
        drop()
    print(
        f"{engine:<10} action={action} steps={steps} workers={workers} "
        f"batch={batch} rate={rate or 'all due'}"
        f"{' kill-one' if kill_one else ''}: {steps / elapsed:,.0f} steps/s "
        f"({elapsed:.1f} s), due-to-done p50 {statistics.median(lateness):.2f} s, "
        f"p95 {p95:.2f} s (started {start:%H:%M:%S} UTC)"
    )
    if rate:
        # Whether the lateness grows through the run (a backlog) or not.
        print("p50 by tenth of the due order: " + " ".join(f"{t:.2f}" for t in tenths))
    # With a worker killed, its CPU is left out (and so are the steps it
    # did only approximately): read the figure of a run without --kill-one.
    print(cpu)
    if comparison:
        print(comparison)
    if action == "email":
        print(f"ratio to the goal of 1,000 e-mails/s: {steps / elapsed / 1000:.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="sqlite")
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--action", choices=("tag", "email"), default="tag")
    parser.add_argument("--rate", type=float, default=None)
    parser.add_argument("--kill-one", action="store_true")
    args = parser.parse_args()
    run(
        args.database_url,
        args.steps,
        args.workers,
        args.batch,
        args.action,
        args.rate,
        args.kill_one,
    )


if __name__ == "__main__":
    main()
