"""The import runs the garbage collector less often, and only while it runs."""

import gc

import pytest

from crm.imports import engine

ROWS = b"email,first_name\nann@example.com,Ann\nbob@example.com,Bob\n"


@pytest.fixture
def thresholds():
    before = gc.get_threshold()
    gc.set_threshold(650, 9, 8)
    yield
    gc.set_threshold(*before)


def test_import_raises_the_thresholds_while_it_runs(app, db, thresholds):
    seen = []

    engine.run(ROWS, progress=lambda done, total: seen.append(gc.get_threshold()))

    assert seen and set(seen) == {engine.IMPORT_GC_THRESHOLDS}
    assert gc.get_threshold() == (650, 9, 8)


def test_thresholds_come_back_when_the_import_fails(app, db, thresholds):
    def fail(done, total):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        engine.run(ROWS, progress=fail)

    assert gc.get_threshold() == (650, 9, 8)
