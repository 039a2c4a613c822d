"""Write the administrative-unit seeds from the `vietnamadminunits` dataset (MIT licence).

Four files, all read from the package's `data/dataset.db` and `data/converter_2025.json`:

- seeds/admin_units.csv: the map in force until 30 June 2025 (63 provinces, districts, wards);
- seeds/admin_units_2025.csv: the map from 1 July 2025 (34 provinces, wards, no districts);
- seeds/admin_unit_successors.csv: which new ward(s) each old ward became;
- seeds/admin_unit_aliases.csv: older names the package keeps for legacy units.

Run with the dev environment: `.venv/bin/python scripts/build_admin_seeds.py`. The output is
committed; re-run only when the upstream dataset changes. The script checks the data it reads and
stops with an error if it does not look like the known maps. See seeds/README.md for attribution.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from nhandao.text import fold

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
LEGACY_VALID_FROM = "2019-01-01"  # start of the warehouse's history
LEGACY_VALID_TO = "2025-06-30"  # districts abolished and communes merged on 1 July 2025
REFORM_VALID_FROM = "2025-07-01"
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
SUCCESSOR_COLUMNS = ["old_code", "new_code", "is_split", "is_default"]
ALIAS_COLUMNS = ["admin_unit_code", "alias", "alias_ascii", "map"]
WARD_TYPES_2025 = {"Phường", "Xã", "Đặc khu"}

# Unit-type words as they appear at the start (or, rarely, the end) of the package's keys:
# "phuongbinhhien", "ttyenvien", "thieuhoathitran", "p8", "ward8", "q9", "district9".
TYPE_WORDS = ("thanhpho", "thixa", "thitran", "phuong", "huyen", "quan", "dackhu", "tinh", "xa")
TYPE_ABBREVIATIONS = ("district", "ward", "tp", "tx", "tt", "p", "f", "x", "q", "h")
# Type words stripped from an alias the package gives only with its type ("xanoonglay"). Not
# "quan" or "tinh": they begin many names (Quan Hóa, Quảng Trung, Tịnh Biên).
STRIPPABLE_TYPE_WORDS = ("thanhpho", "thixa", "thitran", "phuong", "huyen", "xa")
NUMBERED_ALIAS = re.compile(r"^(?:phuong|quan|ward|district|p|f|q)?0*([0-9]+)$")


def unit_row(
    code: str,
    name: str,
    short: str,
    level: str,
    unit_type: str,
    parent: str,
    province_code: str,
    valid_from: str,
    valid_to: str,
) -> dict[str, str]:
    """One row of an admin_units seed (the columns of COLUMNS)."""
    return {
        "admin_unit_code": code,
        "admin_unit_name": name,
        "short_name": short,
        "short_name_ascii": fold(short),
        "admin_level": level,
        "unit_type": unit_type,
        "parent_code": parent,
        "province_code": province_code,
        "valid_from": valid_from,
        "valid_to": valid_to,
    }


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
            units[code] = unit_row(
                code,
                name,
                short,
                level,
                unit_type,
                parent,
                province_code,
                LEGACY_VALID_FROM,
                LEGACY_VALID_TO,
            )
    order = {"province": 0, "district": 1, "ward": 2}
    return sorted(units.values(), key=lambda u: (order[u["admin_level"]], u["admin_unit_code"]))


def units_2025(db: sqlite3.Connection) -> list[dict[str, str]]:
    """Provinces and wards of the map in force from 1 July 2025 (no districts).

    The unit type is read from the full name ("Phường Việt Hòa" -> "Phường"): the package's
    wardType column disagrees with the name for four wards, and the name is the official one.
    """
    units: dict[str, dict[str, str]] = {}
    rows = db.execute(
        "select province, provinceShort, provinceCode, ward, wardShort, wardType, wardCode"
        " from admin_units"
    )
    type_disagreements = []
    for province, province_short, province_code, ward, ward_short, ward_type, ward_code in rows:
        ward_name_type = ward.removesuffix(ward_short).strip()
        if ward_name_type != ward_type:
            type_disagreements.append(f"{ward_code} {ward} (wardType {ward_type})")
        levels = [
            (province_code, province, province_short, "province", ""),
            (ward_code, ward, ward_short, "ward", province_code),
        ]
        for code, name, short, level, parent in levels:
            if code in units:
                check(
                    level == "province" and units[code]["admin_unit_name"] == name,
                    f"2025 code {code} names two units: {units[code]['admin_unit_name']}, {name}",
                )
                continue
            unit_type = name.removesuffix(short).strip()
            check(name.endswith(short) and unit_type != "", f"2025 unit {code} {name}: no type")
            units[code] = unit_row(
                code, name, short, level, unit_type, parent, province_code, REFORM_VALID_FROM, ""
            )
    ward_types = {u["unit_type"] for u in units.values() if u["admin_level"] == "ward"}
    check(ward_types == WARD_TYPES_2025, f"unexpected 2025 ward types {ward_types}")
    if type_disagreements:
        print(f"2025 wards whose wardType disagrees with their name: {type_disagreements}")
    order = {"province": 0, "ward": 1}
    return sorted(units.values(), key=lambda u: (order[u["admin_level"]], u["admin_unit_code"]))


def successors(db: sqlite3.Connection, converter: dict) -> list[dict[str, str]]:
    """Old ward -> new ward edges of the package's converter (converter_2025.json).

    The converter names units by key. An old unit is "provinceKey_districtKey_wardKey" of the
    legacy table; the ward part is empty for the five island districts that had no wards (Bạch
    Long Vĩ, Cồn Cỏ, Hoàng Sa, Lý Sơn, Côn Đảo), whose edge therefore starts from the district
    code. A new unit is wardKey within a new provinceKey of the 2025 table.

    DICT_PROVINCE_WARD_NO_DIVIDED lists, per new ward, the old wards that went wholly into it:
    one edge each, not split, default. DICT_PROVINCE_WARD_DIVIDED lists, per old ward divided
    among several new wards, every new ward with isDefaultNewWard, the one the package's
    convert_address() picks when it has no street address to place: that is our default.
    """
    old_codes = {
        f"{p}_{d}_{w or ''}": w_code or d_code
        for p, d, w, d_code, w_code in db.execute(
            "select provinceKey, districtKey, wardKey, districtCode, wardCode"
            " from admin_units_legacy"
        )
    }
    new_codes = {
        (p, w): code
        for p, w, code in db.execute("select provinceKey, wardKey, wardCode from admin_units")
    }
    new_province_of_old = {
        old: new for new, olds in converter["DICT_PROVINCE"].items() for old in olds
    }
    check(len(new_province_of_old) == 63, "converter: old provinces are not 63")

    edges: dict[str, list[tuple[str, bool, bool]]] = defaultdict(list)

    def add(old_key: str, new_province: str, new_ward: str, split: bool, default: bool) -> None:
        check(old_key in old_codes, f"converter: unknown old unit {old_key}")
        check((new_province, new_ward) in new_codes, f"converter: no {new_province} {new_ward}")
        check(
            new_province_of_old[old_key.split("_")[0]] == new_province,
            f"converter: {old_key} -> {new_province} crosses the province mapping",
        )
        edges[old_key].append((new_codes[new_province, new_ward], split, default))

    for new_province, wards in converter["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for new_ward, old_keys in wards.items():
            for old_key in old_keys:
                add(old_key, new_province, new_ward, False, True)
    for new_province, old_wards in converter["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old_key, new_wards in old_wards.items():
            check(old_key not in edges, f"converter: {old_key} both whole and divided")
            check(len(new_wards) > 1, f"converter: {old_key} divided into one ward")
            for ward in new_wards:
                add(old_key, new_province, ward["newWardKey"], True, ward["isDefaultNewWard"])

    rows = []
    for old_key, targets in edges.items():
        new = [code for code, _, _ in targets]
        check(len(set(new)) == len(new), f"converter: {old_key} lists a new ward twice")
        split = {s for _, s, _ in targets}
        check(split == {len(targets) > 1}, f"converter: {old_key} split flag vs edge count")
        defaults = sum(d for _, _, d in targets)
        check(defaults == 1, f"converter: {old_key} has {defaults} default new wards")
        for new_code, is_split, is_default in targets:
            rows.append(
                {
                    "old_code": old_codes[old_key],
                    "new_code": new_code,
                    "is_split": str(is_split).lower(),
                    "is_default": str(is_default).lower(),
                }
            )
    missing = sorted(set(old_codes) - set(edges))
    print(f"old units without a successor: {len(missing)} {missing[:10]}")
    check(not missing, f"{len(missing)} old units have no successor, e.g. {missing[:5]}")
    unreached = sorted(set(new_codes.values()) - {r["new_code"] for r in rows})
    check(not unreached, f"{len(unreached)} new wards have no predecessor, e.g. {unreached[:5]}")
    return sorted(rows, key=lambda r: (r["old_code"], r["new_code"]))


def name_key(name: str) -> str:
    """A name in the form of the package's keys: 'Bình Hiên' -> 'binhhien'."""
    name = re.sub(r"\s*\(.*\)$", "", name)  # "Yên Viên (Thị trấn)" -> "Yên Viên"
    return re.sub(r"[^a-z0-9]", "", fold(name).lower())


def alias_names(own: str, keys: Iterable[str]) -> dict[str, str]:
    """The other names among a unit's alias keys, as {name key: the package's key to show}.

    The package stores each alias as keys without spaces, usually twice ("with type" and
    "without": "phuongbinhhien", "binhhien"), sometimes also with diacritics ("xãbảohưng"), with
    abbreviations ("ttyenvien", "p8", "ward8", "f08") or with the type last ("thieuhoathitran").
    Those forms are collapsed to one name key ("binhhien", "8"); the key shown is the first the
    package gives, with diacritics if it has them. A name that is the unit's own (the same place
    under its former type: "xavantung" for Thị trấn Vân Tùng) is dropped.
    """
    originals: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        originals[fold(key).lower()].append(key)
    pool = {*originals, own}
    names: dict[str, list[str]] = defaultdict(list)
    for key, spellings in originals.items():
        numbered = NUMBERED_ALIAS.match(key)
        if numbered:  # "phuong08", "p8", "ward08", "f8", "08" -> "8" (Phường 8)
            name = str(int(numbered.group(1)))
        else:
            name = key
            for word in (*TYPE_WORDS, *TYPE_ABBREVIATIONS):
                for rest in (key.removeprefix(word), key.removesuffix(word)):
                    if rest != key and rest in pool:
                        name = rest
            is_short_form = any(f"{word}{key}" in pool for word in TYPE_WORDS)
            if name == key and not is_short_form:
                word = next((w for w in STRIPPABLE_TYPE_WORDS if key.startswith(w)), "")
                name = key.removeprefix(word) or key
        if name == own or any(f"{word}{name}" == own for word in TYPE_WORDS):
            continue  # "duc" for Phường Phường Đúc
        names[name].extend(spellings)
    return {
        name: next((s for s in spellings if not s.isascii()), spellings[0])
        for name, spellings in names.items()
    }


def aliases(db: sqlite3.Connection) -> list[dict[str, str]]:
    """Former names of legacy districts and wards (wardAlias, districtAlias).

    The 2025 table has no ward or district aliases; province aliases ("hn", "hcm") are
    abbreviations, not former names, and are left out.
    """
    rows: dict[tuple[str, str], dict[str, str]] = {}
    queries = [
        "select distinct districtCode, districtShort, districtAlias from admin_units_legacy"
        " where districtAlias <> ''",
        "select wardCode, wardShort, wardAlias from admin_units_legacy where wardAlias <> ''",
    ]
    for query in queries:
        for code, short, alias_json in db.execute(query):
            for name, key in alias_names(name_key(short), json.loads(alias_json)).items():
                rows[code, name] = {
                    "admin_unit_code": code,
                    "alias": key,
                    "alias_ascii": name,
                    "map": "legacy",
                }
    if not db.execute("select count(*) from admin_units where wardAlias <> ''").fetchone()[0]:
        print("2025 map: the package has no ward aliases")
    return sorted(rows.values(), key=lambda r: (r["admin_unit_code"], r["alias_ascii"]))


def check(condition: bool, message: str) -> None:
    """Fail loudly: the seeds must not be written from data that does not look right."""
    if not condition:
        raise SystemExit(f"build_admin_seeds: {message}")


def spot_checks(
    legacy: list[dict[str, str]],
    new: list[dict[str, str]],
    edges: list[dict[str, str]],
    alias_rows: list[dict[str, str]],
) -> None:
    """Print and assert counts and a few known facts of the 2025 reform (Đà Nẵng, Hải Châu)."""
    counts = {
        "legacy": Counter(u["admin_level"] for u in legacy),
        "2025": Counter(u["admin_level"] for u in new),
    }
    print(f"legacy map: {dict(counts['legacy'])}; 2025 map: {dict(counts['2025'])}")
    check(counts["legacy"] == {"province": 63, "district": 696, "ward": 10035}, "legacy counts")
    check(counts["2025"] == {"province": 34, "ward": 3321}, "2025 counts")
    new_by_code = {u["admin_unit_code"]: u for u in new}
    check(new_by_code["01"]["short_name"] == "Hà Nội", "2025 province 01 is not Hà Nội")
    check(new_by_code["48"]["short_name"] == "Đà Nẵng", "2025 province 48 is not Đà Nẵng")

    by_old = defaultdict(list)
    for edge in edges:
        by_old[edge["old_code"]].append(edge)
    split = sum(any(e["is_split"] == "true" for e in es) for es in by_old.values())
    print(f"successor edges: {len(edges)} from {len(by_old)} old units, {split} of them split")
    known = [("20245", "20257", "Hòa Cường"), ("20242", "20242", "Hải Châu")]
    for old, new_code, new_name in known:
        found = [(e["new_code"], new_by_code[e["new_code"]]["short_name"]) for e in by_old[old]]
        print(f"old {old} -> {found}")
        check(
            [e["new_code"] for e in by_old[old]] == [new_code]
            and new_by_code[new_code]["short_name"] == new_name,
            f"old {old} should become {new_code} {new_name}, the package says {found}",
        )

    binh_hien = [r for r in alias_rows if r["alias_ascii"] == "binhhien"]
    print(f"alias binhhien: {binh_hien}")
    check(
        any(r["admin_unit_code"] == "20242" and r["map"] == "legacy" for r in binh_hien),
        f"Bình Hiên should be an alias of legacy 20242 Phước Ninh, the package says {binh_hien}",
    )


def write(name: str, columns: list[str], rows: list[dict[str, str]]) -> None:
    with open(SEEDS / name, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {SEEDS / name}")


def main() -> None:
    package = resources.files("vietnamadminunits")
    converter = json.loads(package.joinpath("data/converter_2025.json").read_text("utf-8"))
    dataset = package.joinpath("data/dataset.db")
    with resources.as_file(dataset) as path, sqlite3.connect(path) as db:
        legacy = legacy_units(db)
        new = units_2025(db)
        edges = successors(db, converter)
        alias_rows = aliases(db)
    spot_checks(legacy, new, edges, alias_rows)
    write("admin_units.csv", COLUMNS, legacy)
    write("admin_units_2025.csv", COLUMNS, new)
    write("admin_unit_successors.csv", SUCCESSOR_COLUMNS, edges)
    write("admin_unit_aliases.csv", ALIAS_COLUMNS, alias_rows)


if __name__ == "__main__":
    main()
