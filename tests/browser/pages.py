"""Helpers of the browser tests: waiting on what arrives on its own."""

import time


def wait_for(db, check, timeout=10.0):
    """Poll the database until ``check()`` holds (beacons arrive on their own)."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()
        db.session.expire_all()
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)
