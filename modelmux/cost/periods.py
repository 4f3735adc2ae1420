"""UTC calendar periods: hours, days, ISO weeks (Monday to Monday) and months.

Budgets count spend per period (`daily`, `weekly`, `monthly`); scheduled reports cover the period that
just ended (those three and `hourly`). A period is `[start, end)` in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

PERIODS = ("hourly", "daily", "weekly", "monthly")


def utc(moment: datetime) -> datetime:
    """An aware UTC datetime (a naive one is taken to be UTC already)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def period_start(period: str, moment: datetime) -> datetime:
    now = utc(moment)
    if period == "hourly":
        return now.replace(minute=0, second=0, microsecond=0)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day
    if period == "weekly":
        return day - timedelta(days=day.weekday())
    if period == "monthly":
        return day.replace(day=1)
    raise ValueError(f"unknown period {period!r}")


def period_end(period: str, start: datetime) -> datetime:
    if period == "hourly":
        return start + timedelta(hours=1)
    if period == "daily":
        return start + timedelta(days=1)
    if period == "weekly":
        return start + timedelta(days=7)
    if period == "monthly":
        return (
            start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
        )
    raise ValueError(f"unknown period {period!r}")


def period_bounds(period: str, moment: datetime) -> tuple[datetime, datetime]:
    """The period that contains `moment`."""
    start = period_start(period, moment)
    return start, period_end(period, start)


def previous_bounds(period: str, moment: datetime) -> tuple[datetime, datetime]:
    """The last period that ended at or before `moment`."""
    end = period_start(period, moment)
    return period_start(period, end - timedelta(microseconds=1)), end


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def days(start: date, end: date) -> list[date]:
    """Every day in `[start, end)`."""
    return [start + timedelta(days=n) for n in range((end - start).days)]
