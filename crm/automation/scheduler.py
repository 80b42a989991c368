"""The scheduler process: one APScheduler beside N claiming worker processes.

Started by ``flask scheduler run``, never inside the web application. The
scheduler's interval job returns crashed claims to the queue, wakes the
workers when rows are due and sends the tasks domain's reminders; the
workers (each its own process, app and database engine) claim due rows and
run them. SIGTERM or SIGINT stops everything after the step in hand.
"""

import logging
import multiprocessing
import os
import signal
import socket
from datetime import timedelta

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import func, select

logger = logging.getLogger(__name__)

#: The settings a worker process needs to build the same app.
PASSED_SETTINGS = ("DATABASE_URL", "SECRET_KEY", "DEMO", "DEBUG", "TESTING")


def child_settings(app) -> dict:
    """What a worker process passes to ``create_app`` to reach the same database."""
    return {key: app.config.get(key) for key in PASSED_SETTINGS}


def worker_main(settings, worker_id, stop, wake, batch=50, poll=2.0):
    """Claim and run due rows until ``stop`` is set (runs in its own process)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    from crm import create_app
    from crm.automation import engine

    app = create_app(settings)
    with app.app_context():
        logger.info("worker %s started (pid %s)", worker_id, os.getpid())
        while not stop.is_set():
            ids = engine.claim(batch, worker_id)
            for run_id in ids:
                # dispatch logs each run with its key and outcome
                engine.dispatch(run_id, worker_id)
                if stop.is_set():
                    break
            if not ids:
                wake.wait(poll)
                wake.clear()
        logger.info("worker %s stopped", worker_id)


def tick(app, wake, claim_timeout: timedelta) -> int:
    """One scheduler beat: reap stale claims, wake the workers, send reminders."""
    from crm.automation import engine
    from crm.automation.models import SCHEDULED, StepRun
    from crm.core.db import utcnow
    from crm.extensions import db

    with app.app_context():
        now = utcnow()
        engine.reap(claim_timeout, now)
        due = db.session.scalar(
            select(func.count())
            .select_from(StepRun)
            .where(StepRun.status == SCHEDULED, StepRun.due_at <= now)
        )
        if due:
            wake.set()
        _send_reminders(now)
        db.session.remove()
        return due


def _send_reminders(now) -> None:
    """The tasks domain's reminders, once it provides them."""
    try:
        from crm.tasks.reminders import send_due
    except ImportError:
        return
    from crm.extensions import db

    try:
        send_due(now)
        db.session.commit()
    except Exception:
        db.session.rollback()
        logger.exception("sending task reminders failed")


def _log_job_event(event) -> None:
    if event.code == EVENT_JOB_MISSED:
        logger.warning("scheduler job %s missed its run", event.job_id)
    else:
        logger.error("scheduler job %s failed: %s", event.job_id, event.exception)


def run(app, workers: int = 2, interval: float = 5.0, batch: int = 50) -> None:
    """Run the scheduler and ``workers`` worker processes until stopped."""
    context = multiprocessing.get_context("spawn")
    stop, wake = context.Event(), context.Event()
    settings = child_settings(app)
    host = socket.gethostname()
    processes = [
        context.Process(
            target=worker_main,
            args=(settings, f"{host}:{os.getpid()}:w{i}", stop, wake, batch),
            name=f"crm-worker-{i}",
        )
        for i in range(workers)
    ]
    for process in processes:
        process.start()

    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_listener(_log_job_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    scheduler.add_job(
        tick,
        "interval",
        seconds=interval,
        args=(app, wake, timedelta(seconds=app.config.get("CLAIM_TIMEOUT", 300))),
        id="automation-tick",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
        next_run_time=_now(),
    )

    def shut_down(signum, frame):
        logger.info("signal %s: stopping the scheduler and workers", signum)
        stop.set()
        wake.set()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    logger.info("scheduler started with %s workers", workers)
    try:
        scheduler.start()
    finally:
        stop.set()
        wake.set()
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
        logger.info("scheduler stopped")


def _now():
    from crm.core.db import utcnow

    return utcnow()
