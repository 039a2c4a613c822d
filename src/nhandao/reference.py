"""Reference data read from seeds/: the same CSVs dbt seeds, so the loader and the models agree."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

from nhandao import settings


@dataclass(frozen=True)
class AdminUnit:
    code: str
    name: str
    short_name: str
    level: str
    parent_code: str
    province_code: str
    valid_from: date
    valid_to: date | None

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    @property
    def scope_code(self) -> str:
        """The unit whose report may name this one: a ward's district (or, from July 2025, its
        province); a district or province itself."""
        return self.parent_code if self.level == "ward" else self.code


def seed_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def seed(name: str, seeds_dir: Path | None = None) -> list[dict[str, str]]:
    """The rows of a seed file (seeds/NAME), or of one in `seeds_dir`."""
    return seed_rows((seeds_dir or settings.seeds_dir()) / name)


MAP_FILES = ("admin_units.csv", "admin_units_2025.csv")  # before and from 1 July 2025


def _unit(row: dict[str, str]) -> AdminUnit:
    return AdminUnit(
        code=row["admin_unit_code"],
        name=row["admin_unit_name"],
        short_name=row["short_name"],
        level=row["admin_level"],
        parent_code=row["parent_code"],
        province_code=row["province_code"],
        valid_from=date.fromisoformat(row["valid_from"]),
        valid_to=date.fromisoformat(row["valid_to"]) if row["valid_to"] else None,
    )


@cache
def admin_unit_versions(seeds_dir: Path | None = None) -> tuple[AdminUnit, ...]:
    """Every unit of both maps. A code may appear twice: the reform reused ward codes."""
    folder = seeds_dir or settings.seeds_dir()
    return tuple(_unit(row) for name in MAP_FILES for row in seed_rows(folder / name))


@cache
def admin_units(seeds_dir: Path | None = None) -> dict[str, AdminUnit]:
    """The units of the map before 1 July 2025, by GSO code."""
    return {row["admin_unit_code"]: _unit(row) for row in seed(MAP_FILES[0], seeds_dir)}


def unit_on(code: str, day: date) -> AdminUnit | None:
    """The unit a code named on a given day (None if no unit had that code then)."""
    return next((u for u in admin_unit_versions() if u.code == code and u.valid_on(day)), None)


def province_name(code: str | None) -> str:
    """A province's name on today's map, or on the old one for a province that was merged."""
    if not code or code == "unknown":
        return "không rõ tỉnh (unknown province)"
    versions = [u for u in admin_unit_versions() if u.code == code and u.level == "province"]
    latest = max(versions, key=lambda u: u.valid_from, default=None)
    return latest.name if latest else code


@cache
def indicator_codes(seeds_dir: Path | None = None) -> frozenset[str]:
    rows = seed("indicators.csv", seeds_dir)
    return frozenset(row["indicator_code"] for row in rows)


def program_codes(seeds_dir: Path | None = None) -> frozenset[str]:
    return frozenset(programs(seeds_dir))


@dataclass(frozen=True)
class Program:
    code: str
    name_vi: str
    name_en: str


@cache
def programs(seeds_dir: Path | None = None) -> dict[str, Program]:
    """Every program (campaign or regular activity), by code, with its names."""
    rows = seed("programs.csv", seeds_dir)
    return {r["program_code"]: Program(r["program_code"], r["name_vi"], r["name_en"]) for r in rows}


def children(parent_code: str, on: date) -> list[AdminUnit]:
    """Units directly under `parent_code` that exist on a given day, by code."""
    units = admin_unit_versions()
    return sorted(
        (u for u in units if u.parent_code == parent_code and u.valid_on(on)),
        key=lambda u: u.code,
    )


@dataclass(frozen=True)
class Indicator:
    code: str
    name_vi: str
    measure_unit: str
    fact_name: str
    allows_fraction: bool
    max_value: float


@cache
def indicators(seeds_dir: Path | None = None) -> dict[str, Indicator]:
    """Every indicator, by code, with its measure unit and plausible maximum per figure."""
    rows = seed("indicators.csv", seeds_dir)
    return {
        row["indicator_code"]: Indicator(
            code=row["indicator_code"],
            name_vi=row["name_vi"],
            measure_unit=row["measure_unit"],
            fact_name=row["fact_name"],
            allows_fraction=row["allows_fraction"] == "true",
            max_value=float(row["max_value"]),
        )
        for row in rows
    }


@dataclass(frozen=True)
class Alias:
    code: str
    key: str  # the name without diacritics, spaces or unit type, e.g. "binhhien"
    map: str  # legacy (before 1 July 2025) or 2025


@cache
def admin_unit_aliases(seeds_dir: Path | None = None) -> tuple[Alias, ...]:
    """Older names units are still called by (e.g. Bình Hiên for Phước Ninh, 20242)."""
    rows = seed("admin_unit_aliases.csv", seeds_dir)
    return tuple(Alias(row["admin_unit_code"], row["alias_ascii"], row["map"]) for row in rows)
