"""When a step falls due: delay, date and field timers as pure functions.

Every function takes the moment it is computed at (``now``, aware, UTC) and
the IANA zone the wall-clock rules are read in, and returns an aware UTC
datetime, or None when the timer can no longer fire (a date already passed:
the contact skips forward).

Clock changes follow one policy: a local time that does not exist (spring
forward) moves to the next valid time, the end of the gap; a local time that
happens twice (autumn) means its first occurrence (``fold=0``).
"""

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UNITS = ("minutes", "hours", "days", "weeks", "months")
WEEKDAYS = tuple(range(7))  # Monday is 0, as in date.weekday()
_SEARCH_DAYS = 400  # far enough for any weekday set within a date range


@dataclass(frozen=True)
class Window:
    """When in the day, and on which weekdays, a step may run.

    ``start`` alone means "at that time"; ``start`` and ``end`` a time range;
    neither means any time. ``weekdays`` None means every day.
    """

    start: time | None = None
    end: time | None = None
    weekdays: frozenset[int] | None = None

    def allows_day(self, day: date) -> bool:
        return self.weekdays is None or day.weekday() in self.weekdays

    @classmethod
    def from_config(cls, config: dict | None) -> "Window":
        """Read a window from a step's stored timer settings."""
        config = config or {}
        days = config.get("weekdays")
        return cls(
            start=_parse_time(config.get("start")),
            end=_parse_time(config.get("end")),
            weekdays=frozenset(int(d) for d in days) if days else None,
        )


ANY_TIME = Window()


def _parse_time(value) -> time | None:
    if value in (None, ""):
        return None
    if isinstance(value, time):
        return value
    return time.fromisoformat(str(value))


def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    """The zone called ``name``, or ``fallback`` when it is empty or unknown."""
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def localize(naive: datetime, tz: ZoneInfo) -> datetime:
    """The UTC moment of wall-clock time ``naive`` in ``tz``, by the DST policy."""
    first = naive.replace(tzinfo=tz, fold=0)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive:
        return first.astimezone(UTC)

    # In a gap: fold=0 reads the time with the offset before the change and
    # fold=1 with the one after; the change itself lies between the two.
    low = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    high = first.astimezone(UTC)
    low, high = min(low, high), max(low, high)
    after = high.astimezone(tz).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def _fit(local, window: Window, tz: ZoneInfo, not_before, keep_clock=False):
    """The first moment at or after wall time ``local`` the window allows.

    A later day starts at midnight, or at the same clock with ``keep_clock``.
    """
    day, clock = local.date(), local.time()
    for _ in range(_SEARCH_DAYS):
        if window.allows_day(day):
            candidate = _in_day(day, clock, window, tz)
            if candidate is not None and candidate >= not_before:
                return candidate
        day += timedelta(days=1)
        clock = clock if keep_clock else time(0, 0)
    return None


def _in_day(day: date, clock: time, window: Window, tz: ZoneInfo):
    """The first allowed moment on ``day`` from ``clock`` on, or None."""
    if window.start is None:
        return localize(datetime.combine(day, clock), tz)
    if window.end is None:
        # "At 09:00": that time of the day, if it has not passed.
        if clock > window.start:
            return None
        return localize(datetime.combine(day, window.start), tz)
    if clock < window.start:
        return localize(datetime.combine(day, window.start), tz)
    if clock > window.end:
        return None
    return localize(datetime.combine(day, clock), tz)


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, the day clamped to the month's length."""
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def delay_due(
    base: datetime,
    amount: int,
    unit: str,
    tz: ZoneInfo,
    window: Window = ANY_TIME,
) -> datetime | None:
    """Wait at least ``amount`` ``unit`` after ``base``, then the next allowed time.

    Minutes and hours are elapsed time. Days, weeks and months are calendar
    steps in ``tz``: "1 day" is the next calendar date at the same wall-clock
    time (or at the window's time), not 24 hours later.
    """
    if unit not in UNITS:
        raise ValueError(f"unknown delay unit {unit!r}")
    if amount < 0:
        raise ValueError("a delay cannot be negative")

    if unit in ("minutes", "hours"):
        earliest = base + timedelta(**{unit: amount})
        local = earliest.astimezone(tz).replace(tzinfo=None)
        return _fit(local, window, tz, earliest)

    local_base = base.astimezone(tz).replace(tzinfo=None)
    if unit == "months":
        day = add_months(local_base.date(), amount)
    else:
        day = local_base.date() + timedelta(days=amount * (7 if unit == "weeks" else 1))
    # Without a window the step keeps the wall-clock time it arrived at; with
    # one, any allowed moment of the target date counts.
    keep = window.start is None
    clock = local_base.time() if amount == 0 or keep else time(0, 0)
    return _fit(datetime.combine(day, clock), window, tz, base, keep_clock=keep)


def date_due(
    now: datetime,
    first_day: date,
    tz: ZoneInfo,
    last_day: date | None = None,
    window: Window = ANY_TIME,
) -> datetime | None:
    """The first allowed moment on ``first_day`` (to ``last_day``) not before now.

    None when the date or the whole range has passed in ``tz``.
    """
    last_day = last_day or first_day
    if last_day < first_day:
        raise ValueError("a date range cannot end before it starts")

    local_now = now.astimezone(tz).replace(tzinfo=None)
    if local_now.date() > last_day:
        return None
    start = max(datetime.combine(first_day, time()), local_now)
    due = _fit(start, window, tz, now)
    if due is None or due.astimezone(tz).date() > last_day:
        return None
    return due


def _shift(day: date, amount: int, unit: str) -> date:
    if unit == "days":
        return day + timedelta(days=amount)
    if unit == "weeks":
        return day + timedelta(weeks=amount)
    if unit == "months":
        return add_months(day, amount)
    raise ValueError(f"unit {unit!r} does not apply to a date field")


def _in_year(value: date, year: int) -> date:
    last = calendar.monthrange(year, value.month)[1]
    return date(year, value.month, min(value.day, last))


def field_due(
    now: datetime,
    value: date | None,
    tz: ZoneInfo,
    amount: int = 0,
    unit: str = "days",
    before: bool = False,
    use_year: bool = False,
    window: Window = ANY_TIME,
) -> datetime | None:
    """``amount`` ``unit`` before or after a contact's date (birthday, ...).

    "Next occurrence" reads only month and day and picks the next year whose
    moment is still ahead (29 February is the 28th in other years); with
    ``use_year`` the full date counts and a date already passed gives None.
    """
    if value is None:
        return None
    signed = -amount if before else amount

    if use_year:
        years = [value.year]
    else:
        this_year = now.astimezone(tz).year
        years = [this_year - 1, this_year, this_year + 1, this_year + 2]

    for year in years:
        day = _shift(_in_year(value, year), signed, unit)
        due = _day_due(day, now, tz, window)
        if due is not None:
            return due
    return None


def _day_due(day: date, now: datetime, tz: ZoneInfo, window: Window):
    """The window's moment on ``day`` when it is still ahead, else None."""
    local_now = now.astimezone(tz).replace(tzinfo=None)
    if day < local_now.date():
        return None
    start = max(datetime.combine(day, time()), local_now)
    due = _in_day(day, start.time(), window, tz) if window.allows_day(day) else None
    if due is None or due < now:
        return None
    return due
