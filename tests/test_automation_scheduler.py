"""The scheduler process: `flask scheduler run`, its workers, SIGTERM; status CLI."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from functools import partial

from sqlalchemy import func, select

from crm.automation import services
from crm.automation.models import DONE, StepRun
from crm.core.db import utcnow
from tests.automation_helpers import make_sequence, tag
from tests.conftest import ROOT


def _flask(database_url, *args, new_session=False):
    env = {
        **os.environ,
        "CRM_DATABASE_URL": database_url,
        "CRM_SECRET_KEY": "scheduler-test-secret",
        "CRM_TESTING": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "crm:create_app", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=new_session,
    )


def _wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_scheduler_process_runs_due_steps_and_stops_on_sigterm(
    app, db, make_contact, database_url
):
    label = tag(db, "Scheduled")
    sequence = make_sequence(
        db, steps=[("none", None, "apply_tag", {"tag_id": label.id})]
    )
    contacts = [make_contact(f"C{i}") for i in range(12)]
    for contact in contacts:
        services.start(contact, sequence, now=utcnow() - timedelta(minutes=1))
    db.session.commit()

    process = _flask(
        database_url, "scheduler", "run", "--workers", "2", "--interval", "0.5"
    )
    try:

        def all_done():
            db.session.rollback()
            done = db.session.scalar(
                select(func.count()).select_from(StepRun).where(StepRun.status == DONE)
            )
            return done == len(contacts)

        assert _wait_for(all_done, 180), "the workers did not run the due steps"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)

    assert process.returncode == 0, output
    assert "scheduler started with 2 workers" in output
    assert output.count(" done by ") == len(contacts)
    assert "scheduler stopped" in output
    workers = set(db.session.scalars(select(StepRun.claimed_by)))
    assert all(w and w.endswith(("w0", "w1")) for w in workers)
    for contact in contacts:
        db.session.refresh(contact)
        assert [link.tag.name for link in contact.tag_links] == ["Scheduled"]


def test_campaigns_status_lists_active_contacts_and_due_items(db, make_contact, runner):
    label = tag(db, "S")
    sequence = make_sequence(
        db,
        "Nurture",
        steps=[
            ("none", None, "apply_tag", {"tag_id": label.id}),
        ],
    )
    later = make_sequence(
        db,
        "Later",
        steps=[
            ("delay", {"amount": 3, "unit": "days"}, "apply_tag", {"tag_id": label.id})
        ],
    )
    for i in range(3):
        services.start(make_contact(f"N{i}"), sequence)
    services.start(make_contact("L"), later)
    db.session.commit()

    result = runner.invoke(args=["campaigns", "status"])
    assert result.exit_code == 0, result.output
    lines = {
        line.split()[1]: line.split()[2:] for line in result.output.splitlines()[1:]
    }
    assert lines["Nurture"] == ["3", "3", "3"]
    assert lines["Later"] == ["1", "0", "1"]


def test_campaigns_achieve_refuses_an_unknown_contact(db, runner):
    result = runner.invoke(
        args=["campaigns", "achieve", "--contact", "999", "--call-name", "x"]
    )
    assert result.exit_code != 0
    assert "There is no contact 999." in result.output


def test_a_second_stop_signal_stops_the_scheduler_without_a_traceback(database_url):
    # Ctrl-C in bin/demo reaches the whole process group (SIGINT) and the
    # script's exit trap then sends SIGTERM: the scheduler gets both.
    process = _flask(
        database_url, "scheduler", "run", "--workers", "1", "--interval", "0.5"
    )
    try:
        started = []

        def running():
            line = process.stdout.readline()
            started.append(line)
            return " started (pid " in line  # the worker is up

        assert _wait_for(running, 60), "".join(started)
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "Traceback" not in output, output
    assert "scheduler stopped" in output


def _group_gone(pgid) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_stop_signal_in_the_first_moment_leaves_nothing_running(database_url):
    # Ctrl-C while the command is still starting (before, during or just
    # after its workers start) reaches the whole process group, and a
    # script's exit trap then sends SIGTERM: the command and every worker
    # it started end, without a traceback.
    for delay in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0):
        process = _flask(
            database_url,
            "scheduler",
            "run",
            "--workers",
            "2",
            "--interval",
            "0.5",
            new_session=True,
        )
        try:
            time.sleep(delay)
            os.killpg(process.pid, signal.SIGINT)
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=60)
            gone = partial(_group_gone, process.pid)
            assert _wait_for(gone, 30), (delay, output)
        finally:
            if not _group_gone(process.pid):
                os.killpg(process.pid, signal.SIGKILL)
        assert "Traceback" not in output, (delay, output)
