"""Time zones: appointments are stored in UTC and shown on the practice's wall clock.

The practice's zone is a setting (an IANA name such as "America/New_York");
empty means the computer's own zone. Wall-clock times that do not exist (the
hour the clocks skip in spring) are refused by whoever asks, not silently moved;
times that happen twice (the hour repeated in autumn) mean the first of the two.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


class NonexistentTime(ValueError):
    """A wall-clock time the practice's clocks skip (the spring daylight-saving change)."""


@lru_cache(maxsize=1)
def computer_zone_name() -> str:
    """The IANA name of this computer's time zone, or "UTC" if it cannot be told."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        link = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in link:
            candidates.append(link.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    try:
        candidates.append(Path("/etc/timezone").read_text(encoding="ascii").strip())
    except (OSError, UnicodeDecodeError):
        pass
    for name in candidates:
        if name and is_zone(name):
            return name
    return "UTC"


@lru_cache(maxsize=64)
def is_zone(name: str) -> bool:
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def zone_names() -> list[str]:
    """Every IANA zone name this computer knows, sorted, for a drop-down."""
    return sorted(name for name in available_timezones() if "/" in name or name == "UTC")


def zone(name: str) -> ZoneInfo:
    """The practice's zone: ``name``, or the computer's when empty (or unknown here)."""
    return ZoneInfo(name if name and is_zone(name) else computer_zone_name())


def to_local(stamp: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """A stored (naive UTC) time on the practice's wall clock (naive)."""
    return stamp.replace(tzinfo=dt.UTC).astimezone(tz).replace(tzinfo=None)


def to_utc(wall: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """A wall-clock time in ``tz`` as stored (naive UTC); ``NonexistentTime`` if the clocks skip it.

    In the hour that repeats when the clocks go back, a typed time (``fold`` 0) is the first of
    the two; a time that came from a stored one keeps its ``fold``, so the second stays second."""
    aware = wall.replace(tzinfo=tz)
    utc = aware.astimezone(dt.UTC)
    if utc.astimezone(tz).replace(tzinfo=None) != wall.replace(fold=0):
        raise NonexistentTime(
            f"{wall:%Y-%m-%d %H:%M} does not exist in {tz.key}: the clocks go forward that night.")
    return utc.replace(tzinfo=None)


def start_of_day(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The stored (naive UTC) time at which ``day`` begins in ``tz``.

    A day whose midnight is skipped (some zones change clocks at midnight) begins at the
    first moment that exists.
    """
    midnight = dt.datetime.combine(day, dt.time())
    try:
        return to_utc(midnight, tz)
    except NonexistentTime:
        return to_utc(midnight + dt.timedelta(hours=1), tz)


def day_bounds(day: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of ``day`` in ``tz``, as stored times: 23 or 25 hours on a change day."""
    return start_of_day(day, tz), start_of_day(day + dt.timedelta(days=1), tz)


def today(tz: ZoneInfo) -> dt.date:
    return dt.datetime.now(tz).date()
