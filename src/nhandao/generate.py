"""Realistic sample submissions (format v1 long CSV) for the real units of one province.

One file per district per month, written by the district chapter: blood figures at district level
and aid to households at ward level. Seasonal shape: Tết gifts in January–February, Humanitarian
Month in May, the Xuân hồng and Hành trình đỏ blood drives, the fund-for-the-poor peak month in
October–November. Deterministic for a given seed: the same call writes byte-identical files.
"""

from __future__ import annotations

import csv
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from nhandao import reference
from nhandao.periods import month_code

COLUMNS = [
    "reporting_unit_code",
    "reporting_unit_name",
    "period",
    "indicator_code",
    "value",
    "qualifier",
    "program_code",
    "note",
]


@dataclass(frozen=True)
class Figure:
    unit: reference.AdminUnit
    period: str
    indicator: str
    value: float
    qualifier: str
    program: str
    note: str = ""

    def row(self) -> list[str]:
        value = f"{self.value:.0f}" if float(self.value).is_integer() else f"{self.value}"
        return [
            self.unit.code,
            self.unit.name,
            self.period,
            self.indicator,
            value,
            self.qualifier,
            self.program,
            self.note,
        ]


def _qualified(rng: random.Random, value: float, step: int) -> tuple[float, str]:
    """Most figures are exact; a few are written 'hơn X' or 'gần X' with a rounded X."""
    draw = rng.random()
    if draw < 0.02 and value >= step:
        return float(value // step * step), "lower_bound"
    if draw < 0.03 and value >= step:
        return float(round(value / step) * step), "approximate"
    return float(value), "exact"


def _size(seed: int, unit_code: str) -> float:
    """A unit's lasting size: a large ward gives more every year than a small one."""
    return random.Random(f"{seed}:{unit_code}:size").uniform(0.5, 2.0)


def _around(rng: random.Random, base: float, size: float) -> int:
    """A month's count: the unit's usual level, give or take a quarter."""
    return max(1, round(base * size * rng.uniform(0.75, 1.25)))


def _ward_figures(
    rng: random.Random, ward, period: str, month: int, size: float
) -> Iterator[Figure]:
    campaigns = [("general", _around(rng, 15, size), (250_000, 600_000))]
    if month in (1, 2):
        campaigns.append(("tet", _around(rng, 130, size), (400_000, 1_000_000)))
    if month == 5:
        campaigns.append(("humanitarian_month", _around(rng, 50, size), (300_000, 800_000)))
    for program, packages, (low, high) in campaigns:
        per_package = rng.randrange(low, high, 50_000)
        yield Figure(ward, period, "gift_packages", packages, "exact", program)
        value, qualifier = _qualified(rng, packages * per_package, 1_000_000)
        yield Figure(ward, period, "aid_value_vnd", value, qualifier, program)
        households = _around(rng, 2 if program == "general" else 6, size)
        yield Figure(ward, period, "households_supported", households, "exact", program)
        beneficiaries, qualifier = _qualified(rng, packages + households * 4, 10)
        yield Figure(ward, period, "beneficiaries", beneficiaries, qualifier, program)
    if month in (8, 9) and rng.random() < 0.6:
        yield Figure(
            ward,
            period,
            "scholarships",
            rng.randint(2, 20),
            "exact",
            "general",
            "Học bổng đầu năm học",
        )
    if rng.random() < 0.15:
        yield Figure(ward, period, "health_insurance_cards", rng.randint(5, 40), "exact", "general")
    if rng.random() < 0.03:
        yield Figure(ward, period, "houses_built", 1, "exact", "general", "Nhà chữ thập đỏ")


def _district_figures(
    rng: random.Random, district, period: str, month: int, size: float
) -> Iterator[Figure]:
    drives = rng.randint(1, 2) + (2 if month in (1, 2) else 0) + (2 if month in (6, 7) else 0)
    units = sum(_around(rng, 270, size) for _ in range(drives))
    note = {1: "Lễ hội Xuân hồng", 2: "Lễ hội Xuân hồng", 6: "Hành trình đỏ", 7: "Hành trình đỏ"}
    yield Figure(
        district, period, "blood_drives", drives, "exact", "blood_donation", note.get(month, "")
    )
    yield Figure(district, period, "blood_units", units, "exact", "blood_donation")
    donors, qualifier = _qualified(rng, round(units * rng.uniform(1.02, 1.12)), 100)
    yield Figure(district, period, "blood_donors", donors, qualifier, "blood_donation")
    raised = _around(rng, 80, size) * 1_000_000 * (4 if month in (10, 11) else 1)
    value, qualifier = _qualified(rng, raised, 10_000_000)
    yield Figure(district, period, "funds_raised_vnd", value, qualifier, "poverty_fund")


def district_month(seed: int, district, year: int, month: int) -> list[Figure]:
    """All figures of one district's report for one month."""
    rng = random.Random(f"{seed}:{district.code}:{year}:{month}")
    period = month_code(year, month)
    first_day = date(year, month, 1)
    figures = list(_district_figures(rng, district, period, month, _size(seed, district.code)))
    for ward in reference.children(district.code, first_day):
        figures.extend(_ward_figures(rng, ward, period, month, _size(seed, ward.code)))
    return figures


def write_csv(path: Path, figures: list[Figure]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(figure.row() for figure in figures)


def _stamp_sent(path: Path, seed: int, unit_code: str, year: int, month: int) -> None:
    """Give the file the day the district sent it: most by the 10th of next month, some late."""
    rng = random.Random(f"{seed}:{unit_code}:{year}:{month}:sent")
    days = rng.randint(1, 9) if rng.random() < 0.85 else rng.randint(11, 40)
    sent = datetime(year + (month == 12), month % 12 + 1, 1, 9, tzinfo=UTC) + timedelta(
        days=days - 1, hours=rng.randint(0, 8)
    )
    sent = min(sent, datetime.now(UTC))
    os.utime(path, (sent.timestamp(), sent.timestamp()))


def generate_province(province_code: str, years: range, out_dir: Path, seed: int = 1) -> list[Path]:
    """Write one CSV per district per month for the province; return the paths written."""
    units = reference.admin_units()
    if units.get(province_code, None) is None or units[province_code].level != "province":
        raise ValueError(f"unknown province code {province_code!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for year in years:
        for month in range(1, 13):
            first_day = date(year, month, 1)
            for district in reference.children(province_code, first_day):
                figures = district_month(seed, district, year, month)
                if len(figures) <= 4:  # a district without wards (e.g. Hoàng Sa) does not report
                    continue
                path = out_dir / f"{province_code}-{district.code}-{month_code(year, month)}.csv"
                write_csv(path, figures)
                _stamp_sent(path, seed, district.code, year, month)
                written.append(path)
    return written


def parse_years(text: str) -> range:
    """'2019-2024' -> range(2019, 2025); '2024' -> range(2024, 2025)."""
    first, _, last = text.partition("-")
    return range(int(first), int(last or first) + 1)
