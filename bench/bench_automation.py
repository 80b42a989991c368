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

The step applies a tag (``--action tag``) or, once the mail domain is there,
sends an e-mail through ``crm.mail.services.send_message`` (``--action
email``) into whatever SMTP server the app's settings name.
"""

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import timedelta

from common import on_path

on_path()


def _database(url: str):
    """(database URL, cleanup) for a fresh database on the server ``url`` names."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if url == "sqlite":
        directory = tempfile.mkdtemp(prefix="crm-bench-automation-")
        return f"sqlite:///{directory}/bench.sqlite", lambda: None
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
        for offset in range(0, len(ids), 1000):
            chunk = ids[offset : offset + 1000]
            for i, run_id in enumerate(chunk, offset):
                db.session.execute(
                    update(StepRun)
                    .where(StepRun.id == run_id)
                    .values(due_at=start + timedelta(seconds=i / rate))
                )
    db.session.commit()
    return start


def run(url: str, steps: int, workers: int, batch: int, action: str, rate):
    from sqlalchemy import select

    from crm import create_app
    from crm.automation.models import DONE, StepRun
    from crm.automation.scheduler import child_settings, stop_workers
    from crm.extensions import db
    from tests.automation_load import start_workers, status_counts

    database_url, drop = _database(url)
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "bench-automation"})
    try:
        with app.app_context():
            from flask_migrate import upgrade

            upgrade(revision="heads")
            step, rate = _seed(db, steps, action, rate)
            processes = start_workers(child_settings(app), workers, batch, poll=0.05)
            time.sleep(5)  # let the spawned workers build their apps
            start = _release(db, step, rate)
            began = time.perf_counter()
            while status_counts(step.id).get(DONE, 0) < steps:
                time.sleep(0.2)
            elapsed = time.perf_counter() - began
            stop_workers(processes)

            rows = db.session.execute(
                select(StepRun.due_at, StepRun.finished_at).where(
                    StepRun.step_id == step.id
                )
            ).all()
            lateness = sorted((f - d).total_seconds() for d, f in rows)
            p95 = lateness[int(len(lateness) * 0.95) - 1]
            engine = db.engine.dialect.name
            db.session.remove()
            db.engine.dispose()
    finally:
        drop()
    print(
        f"{engine:<10} action={action} steps={steps} workers={workers} "
        f"rate={rate or 'all due'}: {steps / elapsed:,.0f} steps/s "
        f"({elapsed:.1f} s), due-to-done p50 {statistics.median(lateness):.2f} s, "
        f"p95 {p95:.2f} s (started {start:%H:%M:%S} UTC)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="sqlite")
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--action", choices=("tag", "email"), default="tag")
    parser.add_argument("--rate", type=float, default=None)
    args = parser.parse_args()
    run(
        args.database_url,
        args.steps,
        args.workers,
        args.batch,
        args.action,
        args.rate,
    )


if __name__ == "__main__":
    main()
