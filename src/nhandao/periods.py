"""Reporting periods: `2024`, `2024S1`, `2024Q3`, `2024M09`, `2024YTD09`, and campaigns from
the reporting calendar (seeds/reporting_calendar.csv): `2024TET`, `2024NHANDAO`, `2024HTD`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path

from nhandao import reference

CAMPAIGNS = ("TET", "NHANDAO", "HTD")
PERIOD_PATTERN = (
    r"^(\d{4})(?:S([12])|Q([1-4])|M(0[1-9]|1[0-2])|YTD(0[1-9]|1[0-2])|("
    + "|".join(CAMPAIGNS)
    + r"))?$"
)
_PERIOD = re.compile(PERIOD_PATTERN)


@dataclass(frozen=True)
class Period:
    code: str
    period_type: str  # year, half, quarter, month, ytd, campaign
    start: date
    end: date


def month_end(year: int, month: int) -> date:
    first_next = date(year + (month == 12), month % 12 + 1, 1)
    return first_next - timedelta(days=1)


def parse_period(code: str) -> Period:
    """Parse a period code; raise ValueError for anything else."""
    match = _PERIOD.match(code.strip())
    if not match:
        raise ValueError(f"not a period code: {code!r}")
    year = int(match[1])
    if match[2]:
        half = int(match[2])
        return Period(code, "half", date(year, 6 * half - 5, 1), month_end(year, 6 * half))
    if match[3]:
        quarter = int(match[3])
        start, end = 3 * quarter - 2, 3 * quarter
        return Period(code, "quarter", date(year, start, 1), month_end(year, end))
    if match[4]:
        month = int(match[4])
        return Period(code, "month", date(year, month, 1), month_end(year, month))
    if match[5]:
        return Period(code, "ytd", date(year, 1, 1), month_end(year, int(match[5])))
    if match[6]:
        return _campaign(code)
    return Period(code, "year", date(year, 1, 1), date(year, 12, 31))


def month_code(year: int, month: int) -> str:
    return f"{year}M{month:02d}"


@cache
def campaign_periods(seeds_dir: Path | None = None) -> tuple[Period, ...]:
    """Campaign periods of the reporting calendar (2024TET, 2024NHANDAO, 2024HTD, …)."""
    rows = reference.seed("reporting_calendar.csv", seeds_dir)
    return tuple(
        Period(
            row["period_code"],
            "campaign",
            date.fromisoformat(row["start_date"]),
            date.fromisoformat(row["end_date"]),
        )
        for row in rows
    )


def _campaign(code: str) -> Period:
    found = next((p for p in campaign_periods() if p.code == code), None)
    if found is None:
        raise ValueError(f"campaign period {code!r} is not in the reporting calendar")
    return found
