"""The dry run predicts the run exactly, also for rows repeated across batches."""

import pytest
from sqlalchemy import func, select

from crm.contacts.models import Contact
from crm.imports.engine import DUPLICATE_MODES, ImportOptions, run


def _count(db):
    return db.session.scalar(select(func.count()).select_from(Contact))


def _dry_then_real(db, data, **options):
    dry = run(data, options=ImportOptions(dry_run=True, **options))
    db.session.rollback()
    assert _count(db) == 0
    real = run(data, options=ImportOptions(**options))
    db.session.commit()
    return dry, real


# Rows 2-7 in the first batch of four, then repeats of them: one the same,
# one that adds a phone, one in other case that adds nothing, one new.
REPEATS = (
    b"first_name,last_name,email,phone\n"
    b"F0,L0,u0@example.com,\n"
    b"F1,,u1@example.com,\n"
    b"F2,L2,u2@example.com,\n"
    b"F3,L3,u3@example.com,\n"
    b"F4,L4,u4@example.com,\n"
    b"F0,L0,u0@example.com,\n"
    b"F1,L1,u1@example.com,\n"
    b"X,Y,U2@EXAMPLE.COM,+44 20 7946 0000\n"
    b"F3,,u3@example.com,\n"
    b"F5,L5,u5@example.com,\n"
    b"F5,L5,u5@example.com,+44 20 7946 0001\n"
)


@pytest.mark.parametrize("mode", DUPLICATE_MODES)
def test_dry_run_counts_are_the_run_counts_across_batches(app, db, mode):
    dry, real = _dry_then_real(db, REPEATS, on_duplicate=mode, batch_size=4)

    assert dry.counts() == real.counts()
    assert [(p.row, p.message) for p in dry.problems] == [
        (p.row, p.message) for p in real.problems
    ]
    assert real.rows == 11


@pytest.mark.parametrize("mode", DUPLICATE_MODES)
def test_dry_run_of_a_file_past_the_default_batch(app, db, mode):
    lines = ["first_name,last_name,email"]
    lines += [f"F{i},L{i},u{i}@example.com" for i in range(2100)]
    lines += ["F0,L0,u0@example.com", "F1,,u1@example.com", "X,Y,U2@EXAMPLE.COM"]
    data = ("\n".join(lines) + "\n").encode()

    dry, real = _dry_then_real(db, data, on_duplicate=mode)

    assert dry.counts() == real.counts()
    expected = {
        "update": (2100, 0, 3),
        "skip": (2100, 0, 3),
        "create": (2103, 0, 0),
    }[mode]
    assert (real.created, real.updated, real.skipped) == expected


def test_dry_run_sees_an_address_an_earlier_batch_added(app, db, make_contact):
    make_contact("Jane", email="jane@example.com")
    data = (
        b"first_name,email,email2,job_title\n"
        b"Jane,jane@example.com,jane@work.example,\n"
        b"A,a@example.com,,\n"
        b"Jane,jane@work.example,,Buyer\n"
    )

    dry = run(data, options=ImportOptions(dry_run=True, batch_size=2))
    db.session.rollback()
    real = run(data, options=ImportOptions(batch_size=2))
    db.session.commit()

    assert dry.counts() == real.counts()
    assert (real.created, real.updated) == (1, 2)
