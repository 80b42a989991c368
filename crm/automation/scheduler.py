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
import time
from datetime import timedelta

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select

logger = logging.getLogger(__name__)

_PLAIN = (str, int, float, bool, type(None))


def child_settings(app) -> dict:
    """The app's own plain settings, so a worker process builds the same app.

    Values computed at start-up from others (the SQLAlchemy ones) and values
    that are not plain (Flask's timedeltas) are left for ``create_app``.
    """
    return {
        key: value
        for key, value in app.config.items()
        if key.isupper()
        and not key.startswith("SQLALCHEMY_")
        and isinstance(value, _PLAIN)
    }


def worker_main(settings, worker_id, batch=50, poll=1.0):
    """Claim and run due rows until SIGTERM (runs in its own process).

    The worker shares no lock with the other processes (a process killed
    while holding one would stall the rest); it stops on its own signal.
    """
    stopping = []
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))

    from crm import create_app
    from crm.automation import engine
    from crm.extensions import db

    app = create_app(settings)
    with app.app_context():
        logger.info("worker %s started (pid %s)", worker_id, os.getpid())
        while not stopping:
            try:
                ids = engine.claim(batch, worker_id)
                # dispatch_batch logs each run with its key and outcome
                engine.dispatch_batch(ids, worker_id, stopping=stopping)
            except Exception:
                # A worker outlives a failing database or mail server: what
                # it held goes back to the queue through the reaper.
                logger.exception("worker %s: claiming failed; trying again", worker_id)
                db.session.rollback()
                ids = []
            if not ids:
                _idle(poll, stopping)
        logger.info("worker %s stopped", worker_id)


def _idle(seconds, stopping) -> None:
    deadline = time.monotonic() + seconds
    while not stopping and time.monotonic() < deadline:
        time.sleep(0.05)


def tick(app, claim_timeout: timedelta) -> int:
    """One scheduler beat: reap stale claims, count due rows, send reminders,
    process the web-form submissions queued for later."""
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
            logger.info("%s step runs due", due)
        _send_reminders(now)
        _process_queued_submissions()
        db.session.remove()
        return due


def _send_reminders(now) -> None:
    """The reminders of tasks and appointments that are due."""
    from crm.extensions import db
    from crm.tasks.reminders import send_due

    try:
        send_due(now)
        db.session.commit()
    except Exception:
        db.session.rollback()
        logger.exception("sending task reminders failed")


def _process_queued_submissions() -> None:
    """Web-form submissions queued while WEBFORMS_PROCESS_LATER is on."""
    from crm.extensions import db
    from crm.webforms import services as webforms

    try:
        done = webforms.process_queued(200)
    except Exception:
        db.session.rollback()
        logger.exception("processing queued web-form submissions failed")
        return
    if done:
        logger.info("%s queued web-form submissions processed", done)


def prune_web_visitors(app, now=None) -> int:
    """The daily beat: summarise web visitors inactive for 90 days and prune
    their page views (crm/tracking)."""
    from crm.extensions import db
    from crm.tracking import services as tracking

    with app.app_context():
        try:
            count = tracking.prune(now=now)
            db.session.commit()
        except Exception:
            db.session.rollback()
            logger.exception("pruning inactive web visitors failed")
            raise
        finally:
            db.session.remove()
    return count


def add_beat_jobs(scheduler, app, interval: float) -> None:
    """The scheduler's jobs: the automation tick and the daily pruning."""
    scheduler.add_job(
        tick,
        "interval",
        seconds=interval,
        args=(app, timedelta(seconds=app.config.get("CLAIM_TIMEOUT", 300))),
        id="automation-tick",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
        next_run_time=_now(),
    )
    scheduler.add_job(
        prune_web_visitors,
        "cron",
        hour=3,
        minute=30,
        args=(app,),
        id="tracking-prune",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
    )


def _log_job_event(event) -> None:
    if event.code == EVENT_JOB_MISSED:
        logger.warning("scheduler job %s missed its run", event.job_id)
    else:
        logger.error("scheduler job %s failed: %s", event.job_id, event.exception)


def run(app, workers: int = 2, interval: float = 5.0, batch: int = 50) -> None:
    """Run the scheduler and ``workers`` worker processes until stopped."""
    stopping = []

    def shut_down(signum, frame):
        logger.info("signal %s: stopping the scheduler and workers", signum)
        stopping.append(signum)

    # Before anything starts: a signal in the first moment (Ctrl-C reaches
    # the whole process group, a script's exit trap sends SIGTERM) only
    # marks the stop, which the loop below acts on once, however many come.
    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)

    context = multiprocessing.get_context("spawn")
    settings = child_settings(app)
    host = socket.gethostname()
    processes = []
    scheduler = BackgroundScheduler(timezone="UTC")
    try:
        for i in range(workers):
            if stopping:
                break
            process = context.Process(
                target=worker_main,
                args=(
                    settings,
                    f"{host}:{os.getpid()}:w{i}",
                    batch,
                    min(interval, 1.0),
                ),
                name=f"crm-worker-{i}",
            )
            # A worker ignores SIGINT (the scheduler stops it with SIGTERM);
            # started while this process ignores it, it does so from its
            # first instruction, so a Ctrl-C during its start-up is no
            # KeyboardInterrupt traceback. A Ctrl-C in those few
            # milliseconds is lost here too.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                process.start()
            finally:
                signal.signal(signal.SIGINT, shut_down)
            processes.append(process)
        if not stopping:
            scheduler.add_listener(_log_job_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR)
            add_beat_jobs(scheduler, app, interval)
            scheduler.start()
            logger.info("scheduler started with %s workers", workers)
        while not stopping:
            time.sleep(0.1)
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=True)
        stop_workers(processes)
        logger.info("scheduler stopped")


def stop_workers(processes, timeout: float = 30) -> None:
    """SIGTERM each worker, wait for it to finish its step, kill a stuck one."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=timeout)
        if process.is_alive():
            logger.error("worker %s did not stop; killing it", process.name)
            process.kill()
            process.join()


def _now():
    from crm.core.db import utcnow

    return utcnow()
