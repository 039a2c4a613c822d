"""Write seeds/admin_units.csv from the `vietnamadminunits` dataset (MIT licence).

Run with the dev environment: `.venv/bin/python scripts/build_admin_seeds.py`. The output is
committed; re-run only when the upstream dataset changes. See seeds/README.md for attribution.
"""

from __future__ import annotations

import csv
import sqlite3
from importlib import resources
from pathlib import Path

from nhandao.text import fold

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
LEGACY_VALID_FROM = "2019-01-01"  # start of the warehouse's history
LEGACY_VALID_TO = "2025-06-30"  # districts abolished and communes merged on 1 July 2025
COLUMNS = [
    "admin_unit_code",
    "admin_unit_name",
    "short_name",
    "short_name_ascii",
    "admin_level",
    "unit_type",
    "parent_code",
    "province_code",
    "valid_from",
    "valid_to",
]


def legacy_units(db: sqlite3.Connection) -> list[dict[str, str]]:
    """Provinces, districts and wards of the map in force until 30 June 2025."""
    units: dict[str, dict[str, str]] = {}
    rows = db.execute(
        "select province, provinceShort, provinceCode, district, districtShort, districtType,"
        " districtCode, ward, wardShort, wardType, wardCode from admin_units_legacy"
    )
    for (
        province,
        province_short,
        province_code,
        district,
        district_short,
        district_type,
        district_code,
        ward,
        ward_short,
        ward_type,
        ward_code,
    ) in rows:
        province_type = province.removesuffix(province_short).strip()
        levels = [
            (province_code, province, province_short, "province", province_type, ""),
            (district_code, district, district_short, "district", district_type, province_code),
            (ward_code, ward, ward_short, "ward", ward_type, district_code),
        ]
        for code, name, short, level, unit_type, parent in levels:
            if not code or code in units:
                continue
            units[code] = {
                "admin_unit_code": code,
                "admin_unit_name": name,
                "short_name": short,
                "short_name_ascii": fold(short),
                "admin_level": level,
                "unit_type": unit_type,
                "parent_code": parent,
                "province_code": province_code,
                "valid_from": LEGACY_VALID_FROM,
                "valid_to": LEGACY_VALID_TO,
            }
    order = {"province": 0, "district": 1, "ward": 2}
    return sorted(units.values(), key=lambda u: (order[u["admin_level"]], u["admin_unit_code"]))


def main() -> None:
    dataset = resources.files("vietnamadminunits").joinpath("data/dataset.db")
    with resources.as_file(dataset) as path, sqlite3.connect(path) as db:
        units = legacy_units(db)
    with open(SEEDS / "admin_units.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(units)
    print(f"wrote {len(units)} units to {SEEDS / 'admin_units.csv'}")


if __name__ == "__main__":
    main()
