"""Timers on fixed clocks: delay, date and field timers, zones and clock changes."""

from datetime import UTC, date, datetime, time

import pytest

from crm.automation.timers import (
    Window,
    add_months,
    date_due,
    delay_due,
    field_due,
    localize,
    zone,
)

PARIS = zone("Europe/Paris")
LA = zone("America/Los_Angeles")
AMS = zone("Europe/Amsterdam")
UTCZ = zone("UTC")


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def at(hour, minute=0):
    return time(hour, minute)


WEEKDAYS_ONLY = frozenset(range(5))


@pytest.mark.parametrize(
    ("base", "amount", "unit", "tz", "window", "expected"),
    [
        # minutes and hours are elapsed time
        (
            utc(2026, 5, 4, 10, 0),
            30,
            "minutes",
            UTCZ,
            Window(),
            utc(2026, 5, 4, 10, 30),
        ),
        (utc(2026, 5, 4, 10, 0), 3, "hours", UTCZ, Window(), utc(2026, 5, 4, 13, 0)),
        # ... and stay on the same day unless the window has passed
        (
            utc(2026, 5, 4, 15, 0),
            3,
            "hours",
            UTCZ,
            Window(at(9), at(17)),
            utc(2026, 5, 5, 9, 0),
        ),
        (
            utc(2026, 5, 4, 6, 0),
            1,
            "hours",
            UTCZ,
            Window(at(9), at(17)),
            utc(2026, 5, 4, 9, 0),
        ),
        # "1 day" is the next calendar date, at the same wall-clock time
        (utc(2026, 5, 4, 23, 50), 1, "days", UTCZ, Window(), utc(2026, 5, 5, 23, 50)),
        (utc(2026, 5, 4, 22, 30), 1, "days", PARIS, Window(), utc(2026, 5, 5, 22, 30)),
        # across the spring change a day is 23 hours: same wall clock in Paris
        (utc(2026, 3, 28, 9, 0), 1, "days", PARIS, Window(), utc(2026, 3, 29, 8, 0)),
        # with a window, any allowed time of that date
        (
            utc(2026, 5, 4, 16, 0),
            1,
            "days",
            UTCZ,
            Window(at(9), at(17)),
            utc(2026, 5, 5, 9, 0),
        ),
        (utc(2026, 5, 4, 16, 0), 1, "days", UTCZ, Window(at(9)), utc(2026, 5, 5, 9, 0)),
        # weekdays: a Friday plus 1 day on weekdays only is Monday
        (
            utc(2026, 5, 8, 10, 0),
            1,
            "days",
            UTCZ,
            Window(weekdays=WEEKDAYS_ONLY),
            utc(2026, 5, 11, 10, 0),
        ),
        (utc(2026, 5, 4, 10, 0), 2, "weeks", UTCZ, Window(), utc(2026, 5, 18, 10, 0)),
        (utc(2026, 1, 31, 10, 0), 1, "months", UTCZ, Window(), utc(2026, 2, 28, 10, 0)),
        (utc(2026, 5, 4, 10, 0), 0, "days", UTCZ, Window(), utc(2026, 5, 4, 10, 0)),
    ],
)
def test_delay_timer(base, amount, unit, tz, window, expected):
    assert delay_due(base, amount, unit, tz, window) == expected


def test_delay_timer_refuses_unknown_unit_and_negative_amount():
    with pytest.raises(ValueError):
        delay_due(utc(2026, 5, 4), 1, "fortnights", UTCZ)
    with pytest.raises(ValueError):
        delay_due(utc(2026, 5, 4), -1, "days", UTCZ)


# S4: a daily 02:30 step through both clock changes, in two zones.
@pytest.mark.parametrize(
    ("tz", "day", "expected"),
    [
        # Paris spring 2026-03-29: 02:30 does not exist, 03:00 CEST is next
        (PARIS, date(2026, 3, 29), utc(2026, 3, 29, 1, 0)),
        # Paris autumn 2026-10-25: 02:30 happens twice, the first is CEST
        (PARIS, date(2026, 10, 25), utc(2026, 10, 25, 0, 30)),
        (PARIS, date(2026, 10, 26), utc(2026, 10, 26, 1, 30)),
        # Los Angeles spring 2026-03-08: 02:30 missing, 03:00 PDT is next
        (LA, date(2026, 3, 8), utc(2026, 3, 8, 10, 0)),
        # Los Angeles autumn 2026-11-01: first 01:30 is PDT; 02:30 only once
        (LA, date(2026, 11, 1), utc(2026, 11, 1, 10, 30)),
    ],
)
def test_daily_0230_step_across_clock_changes(tz, day, expected):
    assert localize(datetime.combine(day, at(2, 30)), tz) == expected


@pytest.mark.parametrize(
    ("tz", "day", "first"),
    [
        (PARIS, date(2026, 10, 25), utc(2026, 10, 25, 0, 30)),
        (LA, date(2026, 11, 1), utc(2026, 11, 1, 8, 30)),
    ],
)
def test_repeated_local_time_runs_on_its_first_occurrence(tz, day, first):
    # 02:30 Paris / 01:30 LA happen twice; the step sees one moment, fold=0.
    clock = at(2, 30) if tz is PARIS else at(1, 30)
    due = localize(datetime.combine(day, clock), tz)
    assert due == first
    assert due.astimezone(tz).fold == 0


@pytest.mark.parametrize("tz", [PARIS, LA])
def test_daily_step_runs_once_per_day_through_a_year_of_changes(tz):
    # Walk a daily 02:30 step from 1 Jan for a year: 365 distinct, increasing
    # moments, one per local date, none on the wrong day.
    base = localize(datetime(2026, 1, 1, 2, 30), tz)
    moments = [base]
    for _ in range(364):
        moments.append(delay_due(moments[-1], 1, "days", tz, Window(at(2, 30))))
    local_days = [m.astimezone(tz).date() for m in moments]
    assert len(set(moments)) == 365
    assert moments == sorted(moments)
    assert local_days == [
        date.fromordinal(date(2026, 1, 1).toordinal() + i) for i in range(365)
    ]


def test_next_day_at_nine_in_amsterdam_is_seven_utc_in_summer():
    # S5: contact in Europe/Amsterdam, "send 09:00 next day".
    base = utc(2026, 7, 14, 15, 0)
    assert delay_due(base, 1, "days", AMS, Window(at(9))) == utc(2026, 7, 15, 7, 0)
    assert delay_due(utc(2026, 1, 14, 15), 1, "days", AMS, Window(at(9))) == utc(
        2026, 1, 15, 8, 0
    )


@pytest.mark.parametrize(
    ("now", "first", "last", "window", "tz", "expected"),
    [
        # a future date, at the window's time, in the zone
        (
            utc(2026, 5, 1),
            date(2026, 5, 10),
            None,
            Window(at(9)),
            PARIS,
            utc(2026, 5, 10, 7, 0),
        ),
        # any time on the date: its start
        (utc(2026, 5, 1), date(2026, 5, 10), None, Window(), UTCZ, utc(2026, 5, 10)),
        # arriving on the date itself: now
        (
            utc(2026, 5, 10, 12),
            date(2026, 5, 10),
            None,
            Window(),
            UTCZ,
            utc(2026, 5, 10, 12),
        ),
        # a date already passed skips forward
        (utc(2026, 5, 11), date(2026, 5, 10), None, Window(), UTCZ, None),
        # on the date but after its time window: passed
        (
            utc(2026, 5, 10, 18),
            date(2026, 5, 10),
            None,
            Window(at(9), at(17)),
            UTCZ,
            None,
        ),
        # a range: the first allowed weekday inside it
        (
            utc(2026, 5, 1),
            date(2026, 5, 9),
            date(2026, 5, 15),
            Window(at(10), at(12), WEEKDAYS_ONLY),
            UTCZ,
            utc(2026, 5, 11, 10),
        ),
        # inside a range whose remaining days the weekdays exclude: passed
        (
            utc(2026, 5, 9, 8),
            date(2026, 5, 4),
            date(2026, 5, 10),
            Window(weekdays=WEEKDAYS_ONLY),
            UTCZ,
            None,
        ),
        # the contact's zone decides "today": 23:30 UTC is already tomorrow
        (utc(2026, 5, 10, 23, 30), date(2026, 5, 10), None, Window(), PARIS, None),
    ],
)
def test_date_timer(now, first, last, window, tz, expected):
    assert date_due(now, first, tz, last, window) == expected


@pytest.mark.parametrize(
    ("now", "value", "amount", "unit", "before", "use_year", "expected"),
    [
        # next occurrence of a birthday, at midnight
        (utc(2026, 5, 1), date(1990, 6, 15), 0, "days", False, False, utc(2026, 6, 15)),
        # this year's already passed: next year
        (utc(2026, 7, 1), date(1990, 6, 15), 0, "days", False, False, utc(2027, 6, 15)),
        # 3 days before the birthday
        (utc(2026, 5, 1), date(1990, 6, 15), 3, "days", True, False, utc(2026, 6, 12)),
        # 2 weeks after
        (
            utc(2026, 5, 1),
            date(1990, 6, 15),
            2,
            "weeks",
            False,
            False,
            utc(2026, 6, 29),
        ),
        # 1 month before a 31 March date: 28 February (clamped)
        (
            utc(2026, 1, 1),
            date(2000, 3, 31),
            1,
            "months",
            True,
            False,
            utc(2026, 2, 28),
        ),
        # 29 February in a year without it: the 28th
        (utc(2026, 1, 1), date(2000, 2, 29), 0, "days", False, False, utc(2026, 2, 28)),
        # a date before the year turns, reached from the previous year's date
        (utc(2026, 1, 2), date(1990, 1, 5), 7, "days", True, False, utc(2026, 12, 29)),
        # using the year: the full date, in the future
        (utc(2026, 5, 1), date(2026, 9, 1), 1, "months", False, True, utc(2026, 10, 1)),
        # using the year, already passed: skips forward
        (utc(2026, 5, 1), date(2020, 9, 1), 1, "months", False, True, None),
        # no value: the timer cannot fire
        (utc(2026, 5, 1), None, 0, "days", False, False, None),
    ],
)
def test_field_timer(now, value, amount, unit, before, use_year, expected):
    assert field_due(now, value, UTCZ, amount, unit, before, use_year) == expected


def test_field_timer_at_a_time_in_the_contacts_zone():
    due = field_due(utc(2026, 5, 1), date(1985, 6, 15), LA, window=Window(at(9, 30)))
    assert due == utc(2026, 6, 15, 16, 30)


def test_field_timer_on_the_day_after_its_time_moves_to_next_year():
    due = field_due(utc(2026, 6, 15, 12), date(1985, 6, 15), UTCZ, window=Window(at(9)))
    assert due == utc(2027, 6, 15, 9)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 1, 15), -13, date(2024, 12, 15)),
    ],
)
def test_add_months(day, months, expected):
    assert add_months(day, months) == expected


def test_window_reads_stored_settings():
    window = Window.from_config({"start": "09:00", "end": "17:30", "weekdays": [0, 4]})
    assert window == Window(at(9), at(17, 30), frozenset({0, 4}))
    assert Window.from_config(None) == Window()


def test_unknown_zone_falls_back():
    assert zone("Mars/Olympus", "Europe/Paris") == PARIS
    assert zone(None) == UTCZ
