"""The import runs the garbage collector less often, and only while it runs."""

import gc
import threading

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


def test_thresholds_come_back_after_two_imports_that_overlap(thresholds):
    # Two request threads (or a request and a job step) import at once: the
    # first to finish must not leave the second without its thresholds, and
    # the last to finish must put back the ones from before either started.
    first_in, second_in, first_out = (threading.Event() for _ in range(3))
    during_second = []

    def first():
        with engine.fewer_collections():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second():
        first_in.wait(5)
        with engine.fewer_collections():
            second_in.set()
            first_out.wait(5)
            during_second.append(gc.get_threshold())

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert during_second == [engine.IMPORT_GC_THRESHOLDS]
    assert gc.get_threshold() == (650, 9, 8)


def test_thresholds_come_back_when_the_import_is_interrupted(app, db, thresholds):
    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        engine.run(ROWS, progress=interrupt)

    assert gc.get_threshold() == (650, 9, 8)
