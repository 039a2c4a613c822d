"""Realistic sample submissions (format v1 long CSV) for the real units of Vietnam.

`generate_province`: one file per district per month of one province (the pre-July-2025 map),
written by the district chapter: blood figures at district level and aid to households at ward
level. Seasonal shape: Tết gifts in January–February, Humanitarian Month in May, the Xuân hồng
and Hành trình đỏ blood drives, the fund-for-the-poor peak month in October–November.

`generate_national`: every reporting unit of the map of each month, as the reporting obligations
say (each district with wards before 1 July 2025, each commune, ward and special zone from that
day), plus year-to-date, campaign and target files, resubmissions, late and missing reports.

Both are deterministic for a given seed: the same call writes byte-identical files with the same
modification times (the day each file was sent).
"""

from __future__ import annotations

import csv
import functools
import multiprocessing
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from nhandao import periods, reference
from nhandao.periods import month_code, month_end, parse_period
from nhandao.submission_format import COLUMNS, QUALIFIERS, TARGET_COLUMNS, VIETNAM


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


@functools.cache
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
    for indicator, value, note in _ward_extras(rng, month):
        yield Figure(ward, period, indicator, value, "exact", "general", note)


def _ward_extras(rng: random.Random, month: int) -> list[tuple[str, int, str]]:
    """A ward's occasional figures of the general program: (indicator, value, note)."""
    extras = []
    if month in (8, 9) and rng.random() < 0.6:
        extras.append(("scholarships", rng.randint(2, 20), "Học bổng đầu năm học"))
    if rng.random() < 0.15:
        extras.append(("health_insurance_cards", rng.randint(5, 40), ""))
    if rng.random() < 0.03:
        extras.append(("houses_built", 1, "Nhà chữ thập đỏ"))
    return extras


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


# --- the national run ------------------------------------------------------------------------

REFORM_DAY = date(2025, 7, 1)  # districts abolished; communes and wards merged (admin_units_2025)
DUE_DAYS = 10  # seeds/reporting_obligations.csv: a month's report is due on the 10th after it
LEGACY, MAP_2025 = "legacy", "2025"
TARGET_INDICATORS = ("blood_units", "aid_value_vnd", "gift_packages", "funds_raised_vnd")
AID_INDICATORS = ("gift_packages", "aid_value_vnd", "households_supported", "beneficiaries")
BLOOD_INDICATORS = ("blood_drives", "blood_units", "blood_donors")
# campaign kind (the end of its period code) -> its program and the figures its report adds up
CAMPAIGN_FIGURES = {
    "TET": ("tet", AID_INDICATORS),
    "NHANDAO": ("humanitarian_month", AID_INDICATORS),
    "HTD": ("blood_donation", BLOOD_INDICATORS),
}
CAMPAIGN_PROGRAMS = frozenset(program for program, _ in CAMPAIGN_FIGURES.values())
QUALIFIER_RANK = {qualifier: rank for rank, qualifier in enumerate(QUALIFIERS)}

# One figure: the CSV v1 columns, with the value still a number.
Row = tuple[str, str, str, str, "int | float", str, str, str]


@dataclass(frozen=True)
class Habit:
    """A reporting unit's lasting ways: how often it is late, forgets, corrects; what it sends
    besides its monthly report; whether it writes numbers the Vietnamese way (1.085, 13,8 tỷ)."""

    late_rate: float
    missing_rate: float
    resubmit_rate: float
    sends_ytd: bool
    sends_campaigns: bool
    vietnamese_numbers: bool


@functools.cache
def habit(seed: int, unit_code: str) -> Habit:
    """The habits of a reporting unit (a district, or from July 2025 a commune)."""
    rng = random.Random(f"{seed}:{unit_code}:habit")
    return Habit(
        late_rate=rng.uniform(0.03, 0.25),
        missing_rate=rng.uniform(0.0, 0.012),
        resubmit_rate=rng.uniform(0.0, 0.02),
        sends_ytd=rng.random() < 0.3,
        sends_campaigns=rng.random() < 0.4,
        vietnamese_numbers=rng.random() < 0.15,
    )


@dataclass(frozen=True)
class ReportFate:
    """When a unit sends its monthly report (None: never) and a corrected version (None: no)."""

    sent_at: datetime | None
    resent_at: datetime | None


def _office_time(rng: random.Random, day: date) -> datetime:
    """A moment of a working day in Vietnam, 07:30–17:30."""
    start = datetime(day.year, day.month, day.day, 7, 30, tzinfo=VIETNAM)
    return start + timedelta(minutes=rng.randint(0, 600))


def monthly_report_fate(seed: int, unit_code: str, year: int, month: int) -> ReportFate:
    """Whether, when and how often a reporting unit sends its report for a month: most by the
    10th of the next month, some late (after it), a few never; a few resend it corrected."""
    unit_habit = habit(seed, unit_code)
    rng = random.Random(f"{seed}:{unit_code}:{year}:{month}:fate")
    if rng.random() < unit_habit.missing_rate:
        return ReportFate(None, None)
    end = month_end(year, month)
    if rng.random() < unit_habit.late_rate:
        day = end + timedelta(days=DUE_DAYS + rng.randint(1, 35))
    else:
        day = end + timedelta(days=rng.randint(1, DUE_DAYS))
    sent = _office_time(rng, day)
    resent = None
    if rng.random() < unit_habit.resubmit_rate:
        resent = _office_time(rng, day + timedelta(days=rng.randint(2, 40)))
    return ReportFate(sent, resent)


@dataclass(frozen=True)
class Reporter:
    """A unit that owes a monthly report: a district with its wards (before the reform) or a
    commune, ward or special zone (from 1 July 2025), and its lasting size."""

    unit: reference.AdminUnit
    wards: tuple[reference.AdminUnit, ...]  # empty for a commune: it reports for itself
    size: float


@functools.cache
def _map_children(map_name: str) -> dict[str, tuple[reference.AdminUnit, ...]]:
    """Each unit's children on one map, by code."""
    children: dict[str, list[reference.AdminUnit]] = {}
    for unit in reference.admin_unit_versions():
        if (unit.valid_from >= REFORM_DAY) == (map_name == MAP_2025) and unit.parent_code:
            children.setdefault(unit.parent_code, []).append(unit)
    return {code: tuple(sorted(units, key=lambda u: u.code)) for code, units in children.items()}


@functools.cache
def _successor_edges() -> tuple[tuple[str, str, bool], ...]:
    """(old code, new code, is default) of seeds/admin_unit_successors.csv."""
    path = reference.settings.seeds_dir() / "admin_unit_successors.csv"
    with open(path, newline="", encoding="utf-8") as f:
        return tuple(
            (row["old_code"], row["new_code"], row["is_default"] == "true")
            for row in csv.DictReader(f)
        )


def new_provinces_of(province_code: str) -> list[str]:
    """The provinces of the 2025 map that the units of a pre-reform province went to."""
    legacy = reference.admin_units()
    new = {u.code: u for u in reference.admin_unit_versions() if u.valid_from >= REFORM_DAY}
    return sorted(
        {
            new[new_code].province_code
            for old_code, new_code, _ in _successor_edges()
            if legacy[old_code].province_code == province_code
        }
    )


def _reporters(seed: int, map_name: str, province_code: str) -> list[Reporter]:
    children = _map_children(map_name)
    if map_name == LEGACY:
        return [
            Reporter(district, children[district.code], _size(seed, district.code))
            for district in children.get(province_code, ())
            if children.get(district.code)  # a district without wards owes no report
        ]
    predecessors = _default_predecessors()
    return [
        # a new commune is about as large as the old wards whose figures follow it
        Reporter(
            commune,
            (),
            sum(_size(seed, old) for old in predecessors.get(commune.code, ()))
            or _size(seed, commune.code),
        )
        for commune in children.get(province_code, ())
    ]


@functools.cache
def _default_predecessors() -> dict[str, tuple[str, ...]]:
    """New ward -> the old units whose default successor it is."""
    predecessors: dict[str, list[str]] = {}
    for old_code, new_code, is_default in _successor_edges():
        if is_default:
            predecessors.setdefault(new_code, []).append(old_code)
    return {code: tuple(olds) for code, olds in predecessors.items()}


@functools.cache
def _campaign_months(campaign, year: int) -> tuple[int, ...]:
    """The months of `year` a campaign period overlaps."""
    return tuple(
        month
        for month in range(1, 13)
        if campaign.start <= month_end(year, month) and date(year, month, 1) <= campaign.end
    )


@functools.cache
def _campaigns(year: int) -> dict[str, object]:
    """The year's campaigns of the reporting calendar, by kind (TET, NHANDAO, HTD)."""
    return {c.code[4:]: c for c in periods.campaign_periods() if c.code[:4] == str(year)}


def _aid_rows(
    rng: random.Random,
    unit: reference.AdminUnit,
    period: str,
    month: int,
    size: float,
    tet_months: tuple[int, ...],
    disaster: bool,
) -> list[Row]:
    """A ward's (or commune's) aid to households in a month, by program."""
    programs = [("general", 15, 250_000, 600_000, 2)]
    if month in tet_months:
        programs.append(("tet", 130 if month in (1, 2) else 35, 400_000, 1_000_000, 6))
    if month == 5:
        programs.append(("humanitarian_month", 50, 300_000, 800_000, 6))
    if disaster and rng.random() < 0.6:
        programs.append(("disaster_relief", 40, 500_000, 2_000_000, 8))
    code, name = unit.code, unit.name
    rows: list[Row] = []
    for program, packages_base, low, high, households_base in programs:
        packages = _around(rng, packages_base, size)
        value, qualifier = _qualified(rng, packages * rng.randrange(low, high, 50_000), 1_000_000)
        households = _around(rng, households_base, size)
        beneficiaries, people_qualifier = _qualified(rng, packages + households * 4, 10)
        rows += [
            (code, name, period, "gift_packages", packages, "exact", program, ""),
            (code, name, period, "aid_value_vnd", int(value), qualifier, program, ""),
            (code, name, period, "households_supported", households, "exact", program, ""),
            (
                code,
                name,
                period,
                "beneficiaries",
                int(beneficiaries),
                people_qualifier,
                program,
                "",
            ),
        ]
    rows += [
        (code, name, period, indicator, value, "exact", "general", note)
        for indicator, value, note in _ward_extras(rng, month)
    ]
    return rows


def _blood_and_fund_rows(
    rng: random.Random, unit: reference.AdminUnit, period: str, month: int, size: float
) -> list[Row]:
    """A reporting unit's own blood drives and funds raised in a month. A district holds one or
    two drives a month, more in the Xuân hồng (January–February) and Hành trình đỏ (June–July)
    seasons; a commune one now and then."""
    peak = month in (1, 2, 6, 7)
    if unit.level == "district":
        drives = rng.randint(1, 2) + 2 * peak
        per_drive, funds = 270, 80
    else:
        drives = (rng.random() < 0.55) + (peak and rng.random() < 0.7)
        per_drive, funds = 30, 5
    code, name = unit.code, unit.name
    rows: list[Row] = []
    if drives:
        note = {
            1: "Lễ hội Xuân hồng",
            2: "Lễ hội Xuân hồng",
            6: "Hành trình đỏ",
            7: "Hành trình đỏ",
        }
        units = sum(_around(rng, per_drive, size) for _ in range(drives))
        donors, qualifier = _qualified(rng, round(units * rng.uniform(1.02, 1.12)), 100)
        rows += [
            (
                code,
                name,
                period,
                "blood_drives",
                drives,
                "exact",
                "blood_donation",
                note.get(month, ""),
            ),
            (code, name, period, "blood_units", units, "exact", "blood_donation", ""),
            (code, name, period, "blood_donors", int(donors), qualifier, "blood_donation", ""),
        ]
    raised = _around(rng, funds, size) * 1_000_000 * (4 if month in (10, 11) else 1)
    value, qualifier = _qualified(rng, raised, 10_000_000)
    rows.append((code, name, period, "funds_raised_vnd", int(value), qualifier, "poverty_fund", ""))
    return rows


def reporter_month(
    seed: int, reporter: Reporter, year: int, month: int, disaster_month: int | None = None
) -> list[Row]:
    """Every figure of a reporting unit's monthly report, as first sent."""
    unit = reporter.unit
    rng = random.Random(f"{seed}:{unit.code}:{year}:{month}:figures")
    period = month_code(year, month)
    campaign = _campaigns(year).get("TET")
    tet_months = _campaign_months(campaign, year) if campaign else (1, 2)
    disaster = month == disaster_month
    rows = _blood_and_fund_rows(rng, unit, period, month, reporter.size)
    if not reporter.wards:
        return rows + _aid_rows(rng, unit, period, month, reporter.size, tet_months, disaster)
    for ward in reporter.wards:
        rows += _aid_rows(rng, ward, period, month, _size(seed, ward.code), tet_months, disaster)
    return rows


def _corrected(seed: int, rows: list[Row]) -> list[Row]:
    """The resubmitted version: a few values corrected, sometimes a figure withdrawn or one that
    had been forgotten added."""
    code, period = rows[0][0], rows[0][2]
    rng = random.Random(f"{seed}:{code}:{period}:correction")
    rows = list(rows)
    correctable = [i for i, row in enumerate(rows) if row[3] not in ("blood_drives",)]
    for i in rng.sample(correctable, min(len(correctable), rng.randint(1, 3))):
        c, name, p, indicator, value, qualifier, program, note = rows[i]
        step = 1000 if indicator.endswith("_vnd") else 1
        corrected = max(step, round(value * rng.uniform(0.8, 1.2)) // step * step)
        value = corrected if corrected != value else value + step
        rows[i] = (c, name, p, indicator, value, qualifier, program, note or "Sửa số liệu")
    draw = rng.random()
    aid = [i for i, row in enumerate(rows) if row[3] in ("health_insurance_cards", "scholarships")]
    if draw < 0.2 and aid:
        del rows[rng.choice(aid)]  # withdrawn: counted twice in the first version
    elif draw < 0.4:
        have = {(row[0], row[3], row[6]) for row in rows}
        units = sorted({(row[0], row[1]) for row in rows if row[3] == "gift_packages"})
        missing = [u for u in units if (u[0], "houses_built", "general") not in have]
        if missing:
            unit_code, name = rng.choice(missing)
            rows.append(
                (
                    unit_code,
                    name,
                    period,
                    "houses_built",
                    1,
                    "exact",
                    "general",
                    "Bổ sung: nhà chữ thập đỏ",
                )
            )
    return rows


# --- writing ---------------------------------------------------------------------------------


@functools.cache
def _measure_units() -> dict[str, str]:
    return {code: i.measure_unit for code, i in reference.indicators().items()}


def _grouped(value: int) -> str:
    """1234567 -> '1.234.567': thousands separated the Vietnamese way."""
    return f"{value:,}".replace(",", ".")


def _decimal(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _vietnamese_value(value: int | float, indicator: str, qualifier: str) -> str:
    """The value as a district writes it: 1.085, 624.845.000 đồng, 120 triệu đồng, 13,8 tỷ đồng,
    109,5 (percent), 01 (one house), with hơn / khoảng before a rounded figure."""
    if isinstance(value, float):
        text = _decimal(value).replace(".", ",")
    elif _measure_units()[indicator] == "vnd":
        if value >= 1_000_000_000 and value % 100_000_000 == 0:
            tenths = value // 100_000_000
            text = f"{tenths // 10}" + (f",{tenths % 10}" if tenths % 10 else "") + " tỷ đồng"
        elif value >= 1_000_000 and value % 1_000_000 == 0:
            text = f"{_grouped(value // 1_000_000)} triệu đồng"
        else:
            text = _grouped(value) + (" đồng" if value % 3 else "đ")
    elif indicator == "houses_built" and value < 10:
        text = f"{value:02d}"
    else:
        text = _grouped(value)
    if qualifier == "lower_bound":
        return "hơn " + text
    if qualifier == "approximate":
        return "khoảng " + text
    return text


def _write(path: Path, rows: list[Row], sent_at: datetime, vietnamese: bool) -> int:
    """Write one CSV v1 file, dated the moment it was sent; return its size in bytes."""
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        if vietnamese:  # the qualifier is in the words (hơn, khoảng)
            writer.writerows(
                (c, n, p, i, _vietnamese_value(v, i, q), "", g, note)
                for c, n, p, i, v, q, g, note in rows
            )
        else:
            writer.writerows(
                (c, n, p, i, _decimal(v) if isinstance(v, float) else str(v), q, g, note)
                for c, n, p, i, v, q, g, note in rows
            )
        size = out.tell()
    stamp = sent_at.timestamp()
    os.utime(path, (stamp, stamp))
    return size


# --- one province's year on one map ----------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """What one worker generates: a province of one map for one year (the months given)."""

    map_name: str
    province_code: str
    year: int
    months: tuple[int, ...]


@dataclass
class TaskResult:
    paths: list[Path]
    figures: int = 0
    targets: int = 0
    size_bytes: int = 0


class _Sums:
    """Running sums with their qualifier: a sum with an approximate part is approximate, else
    with a lower bound a lower bound (the marts' rule)."""

    def __init__(self) -> None:
        self.values: dict[tuple, list] = {}

    def add(self, key: tuple, value: int, qualifier: str) -> None:
        entry = self.values.get(key)
        if entry is None:
            self.values[key] = [value, QUALIFIER_RANK[qualifier]]
        else:
            entry[0] += value
            entry[1] = max(entry[1], QUALIFIER_RANK[qualifier])

    def get(self, key: tuple) -> int:
        entry = self.values.get(key)
        return entry[0] if entry else 0

    def items(self):
        return ((key, value, QUALIFIERS[rank]) for key, (value, rank) in self.values.items())


def _nice(value: float) -> int:
    """A target as the level above writes it: three significant digits."""
    if value < 100:
        return max(1, round(value))
    step = 10 ** (len(str(int(value))) - 3)
    return int(round(value / step) * step)


def _has_targets(task: Task) -> bool:
    """Targets are set on units that exist at the end of the year: no district gets a 2025 one."""
    return task.map_name == MAP_2025 or month_end(task.year, 12) < REFORM_DAY


def _target_scale(task: Task) -> float:
    """A target covers the rest of the year from the task's first month (the whole year, or for
    the new communes of 2025 July–December): a year still under way is scaled up to it."""
    return (13 - task.months[0]) / len(task.months)


def _cumulative_reports(task: Task) -> dict[int, tuple[str, bool]]:
    """Month -> (period code, resets after): YTD03…YTD12 (January to the month); in 2025 the new
    communes, which did not exist in January, report quarters 2025Q3 and 2025Q4 instead."""
    if task.map_name == MAP_2025 and task.year == REFORM_DAY.year:
        return {9: (f"{task.year}Q3", True), 12: (f"{task.year}Q4", True)}
    return {m: (f"{task.year}YTD{m:02d}", False) for m in (3, 6, 9, 12)}


@dataclass(frozen=True)
class _Context:
    out_dir: Path
    seed: int
    today: date

    @property
    def cutoff(self) -> datetime:
        """Nothing is sent after the start of today (Vietnam time)."""
        return datetime(self.today.year, self.today.month, self.today.day, tzinfo=VIETNAM)


def _reporter_year(
    ctx: _Context, task: Task, reporter: Reporter, disaster_month: int | None, result: TaskResult
) -> dict[str, int]:
    """Write a reporting unit's files of a year; return its actual totals of TARGET_INDICATORS
    (and the unit's targets, under 'target:<indicator>')."""
    seed, unit, year = ctx.seed, reporter.unit, task.year
    unit_habit = habit(seed, unit.code)
    # 1. every month's figures, as sent and as finally corrected
    months = _sent_months(ctx, task, reporter, disaster_month)
    # 2. what the year adds up to, and the targets set on it
    actual, by_month = _year_sums(months)
    scale = _target_scale(task)
    rng = random.Random(f"{seed}:{unit.code}:{year}:targets")
    targets = {
        i: _nice(value * scale * rng.uniform(0.85, 1.2))
        for i, value in actual.items()
        if value and _has_targets(task)
    }
    # 3. the monthly files; December's also states the year's blood-unit attainment
    for month, sent, resent, rows, final in months:
        if month == 12 and targets.get("blood_units"):
            blood = actual["blood_units"]
            if rng.random() < 0.05:  # stated before December's drives were counted
                blood -= by_month[12].get(("blood_units", "blood_donation"))
            attainment = _attainment_row(reporter, year, blood, targets["blood_units"])
            rows, final = rows + [attainment], final + [attainment]
        _write_month(ctx, task, reporter, month, (sent, rows), (resent, final), result)
    # 4. year-to-date (or, for the new communes in 2025, quarterly) reports
    if unit_habit.sends_ytd:
        _write_cumulative(ctx, task, reporter, months, result)
    # 5. campaign reports: the campaign's figures added up over its months
    if unit_habit.sends_campaigns:
        _write_campaigns(ctx, task, reporter, by_month, result)
    return {**actual, **{f"target:{i}": t for i, t in targets.items()}}


def _sent_months(
    ctx: _Context, task: Task, reporter: Reporter, disaster_month: int | None
) -> list[tuple]:
    """(month, sent at, resent at or None, rows as sent, rows as finally corrected) of each
    month a report was sent for by the cutoff."""
    seed, unit, year = ctx.seed, reporter.unit, task.year
    months = []
    for month in task.months:
        fate = monthly_report_fate(seed, unit.code, year, month)
        if fate.sent_at is None or fate.sent_at > ctx.cutoff:
            continue  # never sent, or not yet
        rows = reporter_month(seed, reporter, year, month, disaster_month)
        resent = fate.resent_at if fate.resent_at and fate.resent_at <= ctx.cutoff else None
        final = _corrected(seed, rows) if resent else rows
        months.append((month, fate.sent_at, resent, rows, final))
    return months


def _year_sums(months: list[tuple]) -> tuple[dict[str, int], dict[int, _Sums]]:
    """The year's totals of TARGET_INDICATORS, and the campaigns' figures month by month."""
    actual = dict.fromkeys(TARGET_INDICATORS, 0)
    by_month: dict[int, _Sums] = {}
    for month, _, _, _, final in months:
        sums = by_month[month] = _Sums()
        for _, _, _, indicator, value, qualifier, program, _ in final:
            if indicator in actual:
                actual[indicator] += value
            if program in CAMPAIGN_PROGRAMS:
                sums.add((indicator, program), value, qualifier)
    return actual, by_month


def _attainment_row(reporter: Reporter, year: int, blood: float, target: float) -> Row:
    """December's statement of the year's blood units as a percentage of the target."""
    stated = round(100 * blood / target, 1)
    unit = reporter.unit
    return (
        unit.code,
        unit.name,
        str(year),
        "target_attainment_pct",
        stated,
        "exact",
        "blood_donation",
        "blood_units",
    )


def _write_month(
    ctx: _Context,
    task: Task,
    reporter: Reporter,
    month: int,
    sent: tuple[datetime, list],
    resent: tuple[datetime | None, list],
    result: TaskResult,
) -> None:
    """A month's file, and its corrected `_v2` if one was sent (it sorts after the first
    version, so loading by name keeps the order)."""
    period = month_code(task.year, month)
    for suffix, (when, rows) in (("", sent), ("_v2", resent)):
        if when is None:
            continue
        _send_file(ctx, task, reporter, f"{period}{suffix}", rows, when, result)


def _send_file(
    ctx: _Context,
    task: Task,
    reporter: Reporter,
    name: str,
    rows: list[Row],
    sent: datetime,
    result: TaskResult,
) -> None:
    """Write `<province>-<unit>-<name>.csv` as the unit writes numbers, sent at `sent`."""
    unit = reporter.unit
    path = ctx.out_dir / f"{task.province_code}-{unit.code}-{name}.csv"
    result.size_bytes += _write(path, rows, sent, habit(ctx.seed, unit.code).vietnamese_numbers)
    result.paths.append(path)
    result.figures += len(rows)


def _write_cumulative(
    ctx: _Context, task: Task, reporter: Reporter, months: list, result: TaskResult
) -> None:
    """Cumulative reports restating the monthly figures (the marts count the monthly ones and
    ignore these), with first-aid training and volunteers, which only these reports carry."""
    unit, year = reporter.unit, task.year
    rng = random.Random(f"{ctx.seed}:{unit.code}:{year}:cumulative")
    reports = _cumulative_reports(task)
    final_by_month = {month: final for month, _, _, _, final in months}
    classes_per_quarter = 3 if unit.level == "district" else 1
    running = _Sums()
    classes = trainees = 0
    for month in task.months:
        for code, name, period, indicator, value, qualifier, program, _ in final_by_month.get(
            month, ()
        ):
            if len(period) == 7:  # a month's figure (not the year's stated attainment)
                running.add((code, name, indicator, program), value, qualifier)
        if month % 3 == 0:
            quarter_classes = rng.randint(0, classes_per_quarter)
            classes += quarter_classes
            trainees += quarter_classes * rng.randint(20, 40)
        if month not in reports:
            continue
        period, resets = reports[month]
        end = parse_period(period).end
        sent = _office_time(rng, end + timedelta(days=rng.randint(3, 25)))
        rows: list[Row] = [
            (code, name, period, indicator, value, qualifier, program, "")
            for (code, name, indicator, program), value, qualifier in running.items()
        ]
        if classes:
            rows += [
                (
                    unit.code,
                    unit.name,
                    period,
                    "first_aid_classes",
                    classes,
                    "exact",
                    "general",
                    "",
                ),
                (
                    unit.code,
                    unit.name,
                    period,
                    "first_aid_trainees",
                    trainees,
                    "exact",
                    "general",
                    "",
                ),
            ]
        volunteers = round(reporter.size * (60 if unit.level == "district" else 25))
        rows.append(
            (
                unit.code,
                unit.name,
                period,
                "volunteers",
                round(volunteers * rng.uniform(0.9, 1.1)),
                "exact",
                "general",
                "",
            )
        )
        if resets:
            running, classes, trainees = _Sums(), 0, 0
        if sent > ctx.cutoff:
            continue
        _send_file(ctx, task, reporter, period, rows, sent, result)


def _write_campaigns(
    ctx: _Context, task: Task, reporter: Reporter, by_month: dict, result: TaskResult
) -> None:
    """One report per campaign that ended on this map: the unit's total for the campaign."""
    unit = reporter.unit
    rng = random.Random(f"{ctx.seed}:{unit.code}:{task.year}:campaigns")
    for kind, campaign in _campaigns(task.year).items():
        program, indicators = CAMPAIGN_FIGURES[kind]
        on_this_map = (campaign.end >= REFORM_DAY) == (task.map_name == MAP_2025)
        sent = _office_time(rng, campaign.end + timedelta(days=rng.randint(3, 20)))
        if not on_this_map or campaign.end >= ctx.today or sent > ctx.cutoff:
            continue
        months = _campaign_months(campaign, task.year)
        sums = _Sums()
        for month in months:
            if month in by_month:
                for indicator in indicators:
                    entry = by_month[month].values.get((indicator, program))
                    if entry:
                        sums.add(indicator, entry[0], QUALIFIERS[entry[1]])
        note = (
            "Từ 01/7/2025, sau sắp xếp đơn vị hành chính"
            if campaign.start < REFORM_DAY <= (campaign.end)
            else ""
        )
        rows: list[Row] = [
            (unit.code, unit.name, campaign.code, indicator, value, qualifier, program, note)
            for indicator, value, qualifier in sums.items()
        ]
        if not rows:
            continue
        _send_file(ctx, task, reporter, campaign.code, rows, sent, result)


def _write_targets(
    ctx: _Context, task: Task, reporters: list[Reporter], years_figures: list[dict], result
) -> None:
    """The province's target file for the year (nhandao.submission_format.TARGET_COLUMNS): the
    province's own targets and each reporting unit's, sent in January (for the new communes
    of 2025, in July)."""
    province = reference.unit_on(task.province_code, month_end(task.year, 12))
    if province is None:
        return
    rng = random.Random(f"{ctx.seed}:{province.code}:{task.year}:targets")
    after_reform = task.map_name == MAP_2025 and task.year == REFORM_DAY.year
    note = (
        f"Chỉ tiêu 6 tháng cuối năm {task.year} (đơn vị hành chính mới)"
        if after_reform
        else f"Chỉ tiêu năm {task.year}"
    )
    scale = _target_scale(task)
    rows = []
    for indicator in TARGET_INDICATORS:
        total = sum(figures.get(indicator, 0) for figures in years_figures)
        if total:
            target = _nice(total * scale * rng.uniform(0.9, 1.15))
            rows.append((province.code, province.name, task.year, indicator, target, note))
    for reporter, figures in zip(reporters, years_figures, strict=True):
        for indicator in TARGET_INDICATORS:
            if target := figures.get(f"target:{indicator}"):
                rows.append(
                    (reporter.unit.code, reporter.unit.name, task.year, indicator, target, note)
                )
    if not rows:
        return
    first_month = 7 if after_reform else 1
    sent = _office_time(rng, date(task.year, first_month, rng.randint(5, 25)))
    if sent > ctx.cutoff:
        return

    path = ctx.out_dir / f"{task.province_code}-chi-tieu-{task.year}.csv"
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(TARGET_COLUMNS)
        writer.writerows(rows)
        result.size_bytes += out.tell()
    os.utime(path, (sent.timestamp(), sent.timestamp()))
    result.paths.append(path)
    result.targets += len(rows)


def run_task(ctx: _Context, task: Task) -> TaskResult:
    """Generate one province's year on one map."""
    result = TaskResult(paths=[])
    reporters = _reporters(ctx.seed, task.map_name, task.province_code)
    rng = random.Random(f"{ctx.seed}:{task.province_code}:{task.year}:{task.map_name}:disaster")
    disaster_month = rng.choice((9, 10, 11)) if rng.random() < 0.35 else None  # storms, floods
    years_figures = [
        _reporter_year(ctx, task, reporter, disaster_month, result) for reporter in reporters
    ]
    if _has_targets(task):
        _write_targets(ctx, task, reporters, years_figures, result)
    return result


# --- the whole country -----------------------------------------------------------------------


def _tasks(years: range, provinces: Sequence[str] | None, today: date) -> list[Task]:
    legacy = reference.admin_units()
    old = sorted(c for c, u in legacy.items() if u.level == "province")
    if provinces is None:
        chosen_old = old
        chosen_new = sorted(
            u.code
            for u in reference.admin_unit_versions()
            if u.level == "province" and u.valid_from >= REFORM_DAY
        )
    else:
        unknown = [p for p in provinces if p not in old]
        if unknown:
            raise ValueError(
                f"unknown province code(s) {', '.join(map(repr, unknown))}: give the codes of"
                " the 63 provinces before the 2025 reform (e.g. 48 Đà Nẵng, 49 Quảng Nam)"
            )
        chosen_old = sorted(set(provinces))
        chosen_new = sorted({new for p in chosen_old for new in new_provinces_of(p)})
    tasks = []
    for year in years:
        for map_name, chosen in ((LEGACY, chosen_old), (MAP_2025, chosen_new)):
            months = tuple(
                m
                for m in range(1, 13)
                if (date(year, m, 1) >= REFORM_DAY) == (map_name == MAP_2025)
                and month_end(year, m) < today
            )
            if months:
                tasks += [Task(map_name, p, year, months) for p in chosen]
    return tasks


def _workers(task_count: int) -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return 1 if task_count < 8 else min(cpus, task_count)


@dataclass(frozen=True)
class NationalRun:
    paths: list[Path]
    figures: int  # rows of figure files (monthly, year-to-date, quarterly, campaign, resent)
    targets: int  # rows of target files
    size_bytes: int


def national_run(
    out_dir: Path, years: range, seed: int = 1, provinces: Sequence[str] | None = None
) -> NationalRun:
    """`generate_national`, with the counts of what it wrote."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    today = date.today()
    tasks = _tasks(years, provinces, today)
    ctx = _Context(out_dir, seed, today)
    job = functools.partial(run_task, ctx)
    for map_name in (LEGACY, MAP_2025):  # load the maps before workers fork, once
        _map_children(map_name)
    _default_predecessors()
    periods.campaign_periods()
    _measure_units()
    workers = _workers(len(tasks))
    paths: list[Path] = []
    figures = targets = size = 0
    if workers == 1:
        results = map(job, tasks)
        for result in results:
            paths += result.paths
            figures, targets, size = (
                figures + result.figures,
                targets + result.targets,
                size + result.size_bytes,
            )
    else:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        with context.Pool(workers) as pool:
            for result in pool.imap(job, tasks):
                paths += result.paths
                figures, targets, size = (
                    figures + result.figures,
                    targets + result.targets,
                    size + result.size_bytes,
                )
    return NationalRun(paths, figures, targets, size)


def generate_national(
    out_dir: Path, years: range, seed: int = 1, provinces: Sequence[str] | None = None
) -> list[Path]:
    """Write the reports of every reporting unit of Vietnam (or of `provinces`) for `years`, up
    to the last complete month; return the paths written.

    Month by month, every unit that owes a report on the map of that month files one: before
    1 July 2025 each district with wards (its own blood and fund figures and its wards' aid),
    from that day each commune, ward and special zone. Most are sent by the 10th of the next
    month (the file's modification time), some late, a few never; a few are resent corrected
    (`<name>_v2.csv`, later). Some units also send year-to-date reports (2025Q3 and 2025Q4 for
    the new communes in 2025) and campaign reports (Tết, Tháng Nhân đạo, Hành trình đỏ); each
    province sends a target file per year.

    `provinces` are codes of the 63 provinces before the reform: the run covers them before
    1 July 2025 and, from that day, the whole new provinces their units went to (48 Đà Nẵng
    brings the new Đà Nẵng, which includes the former Quảng Nam).
    """
    return national_run(out_dir, years, seed, provinces).paths
