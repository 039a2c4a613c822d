"""Write the administrative-unit seeds from the `vietnamadminunits` dataset (MIT licence).

Four files, all read from the package's `data/dataset.db` and `data/converter_2025.json`:

- seeds/admin_units.csv: the map in force until 30 June 2025 (63 provinces, districts, wards);
- seeds/admin_units_2025.csv: the map from 1 July 2025 (34 provinces, wards, no districts);
- seeds/admin_unit_successors.csv: which new ward(s) each old ward became, every edge checked
  against the package's coordinates and provinces (cross-links between same-named wards of
  different cities are dropped, see validate_successors);
- seeds/admin_unit_aliases.csv: older names the package keeps for legacy units.

It also rewrites the generated part of seeds/README.md (the successor counts and the table of
edges dropped, corrected or kept despite their distance), so that the README stays true.

Run with the dev environment: `.venv/bin/python scripts/build_admin_seeds.py`. The output is
committed; re-run only when the upstream dataset changes. The script checks the data it reads and
stops with an error if it does not look like the known maps. See seeds/README.md for attribution.
"""

from __future__ import annotations

import csv
import json
import math
import re
import sqlite3
import textwrap
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
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


Edges = dict[str, dict[str, bool]]  # old unit code -> {new ward code: is default}
Point = tuple[float, float]  # latitude, longitude in degrees

# An edge is judged by its distance (edge_km) and, beyond NEAR_KM, by the names of the old units
# feeding the same new ward (judge). Figures of vietnamadminunits 1.0.4: 99% of its edges are
# within 10.9 km, but genuine edges reach 19.5 km (Xã Hạ Mỹ -> Xã Bắc Trạch, Quảng Bình's hills)
# while cross-links start at 17.7 km (Xã Long Bình of Ngã Năm -> Phường Long Bình of Long Mỹ):
# distance alone cannot tell them apart. What does is a same-named old unit of the same new
# province feeding the same new ward from nearby: every cross-link has one within 8.3 km, and
# same-named units that genuinely merge lie within 4.6 km of their ward. Hence NEAR_KM = 10 km,
# between those figures and at the 99th percentile. Beyond FAR_KM = 20 km, over the longest
# genuine edge, an edge needs other evidence (the new ward carries the old code or name, or
# units of the same old district went wholly into it); the 12 such edges of 1.0.4 all have it.
NEAR_KM = 10.0
FAR_KM = 20.0
EARTH_RADIUS_KM = 6371.0
MAX_ROUNDS = 5
# What the validated successors of vietnamadminunits 1.0.4 look like: the package's 10,602 edges
# (9,569 whole, 471 split wards with 1,033 edges) less the 30 cross-links dropped, after which 28
# of those wards went wholly into one new ward.
EXPECTED_SUCCESSORS = {
    "edges": 10572,
    "whole": 9597,
    "split": 443,
    "split_edges": 975,
    "most_successors": 5,
}
KNOWN_SUCCESSORS = [  # old code, its only new ward, that ward's name
    ("20245", "20257", "Hòa Cường"),  # Hòa Thuận Tây (Đà Nẵng)
    ("20242", "20242", "Hải Châu"),  # Phước Ninh
    ("27691", "27694", "Long An"),  # Phường 4 of Tân An, not Tân Ninh (Tây Ninh city)
    ("25462", "25459", "Tân Ninh"),  # Phường 4 of Tây Ninh city, not Long An
    ("29908", "29905", "Sa Đéc"),  # Phường 4 of Sa Đéc, not Cao Lãnh
]
README_START = "<!-- successors: generated by scripts/build_admin_seeds.py -->"
README_END = "<!-- end of generated successors -->"


@dataclass(frozen=True)
class OldUnit:
    """An old ward (or ward-less island district) as the package places it."""

    code: str
    label: str  # "Phường 4, Thành phố Tân An, Tỉnh Long An"
    name: str  # the name same-named units share: "Phường 4", "Tân Thạnh", "Long Phú"
    district_code: str
    province_code: str
    points: tuple[Point, ...]  # its own point first, then its district's


@dataclass(frozen=True)
class NewUnit:
    """A ward of the 2025 map as the package places it."""

    code: str
    label: str  # "Phường Long An, Tỉnh Tây Ninh"
    name: str
    province_code: str
    point: Point


@dataclass(frozen=True)
class AdminMap:
    """Both maps' units and which new province each old province went to."""

    old: dict[str, OldUnit]
    new: dict[str, NewUnit]
    new_province_of: dict[str, str]  # old province code -> new province code


@dataclass(frozen=True)
class Verdict:
    """What the validation says of one edge: its distance and, if any, its problem or backing."""

    old_code: str
    new_code: str
    km: float
    problem: str = ""  # why the edge is an outlier; empty when it is valid
    twin: str = ""  # the same-named old unit the new ward really came from, for a cross-link
    backing: str = ""  # why a far edge is kept (corroboration)


@dataclass(frozen=True)
class Decision:
    """An outlier edge and what was done with it (dropped, or corrected to another new ward)."""

    old_code: str
    new_code: str
    km: float
    reason: str
    corrected_to: str = ""


def bare_name(short: str) -> str:
    """A unit's name as same-named units share it: 'Long Phú (Xã)' -> 'Long Phú'."""
    return unicodedata.normalize("NFC", re.sub(r"\s*\(.*\)$", "", short)).strip()


def admin_map(db: sqlite3.Connection, converter: dict) -> AdminMap:
    """The package's units with their coordinates (wardLat/Lon, districtLat/Lon) and provinces."""
    old: dict[str, OldUnit] = {}
    old_provinces: dict[str, str] = {}  # province key -> code; keys repeat across the maps
    for row in db.execute(
        "select provinceKey, provinceCode, province, district, districtShort, districtCode,"
        " districtLat, districtLon, ward, wardShort, wardCode, wardLat, wardLon"
        " from admin_units_legacy"
    ):
        p_key, p_code, p_name, d_name, d_short, d_code, d_lat, d_lon, *ward = row
        w_name, w_short, w_code, w_lat, w_lon = ward
        old_provinces[p_key] = p_code
        points = [(w_lat, w_lon), (d_lat, d_lon)] if w_code else [(d_lat, d_lon)]
        code = w_code or d_code
        old[code] = OldUnit(
            code=code,
            label=", ".join(n for n in (w_name, d_name, p_name) if n),
            name=bare_name(w_short or d_short),
            district_code=d_code,
            province_code=p_code,
            points=tuple(p for p in points if p[0] is not None and p[1] is not None),
        )
    new: dict[str, NewUnit] = {}
    new_provinces: dict[str, str] = {}
    for p_key, p_code, p_name, w_name, w_short, w_code, w_lat, w_lon in db.execute(
        "select provinceKey, provinceCode, province, ward, wardShort, wardCode, wardLat, wardLon"
        " from admin_units"
    ):
        new_provinces[p_key] = p_code
        new[w_code] = NewUnit(
            w_code, f"{w_name}, {p_name}", bare_name(w_short), p_code, (w_lat, w_lon)
        )
    new_province_of = {
        old_provinces[old_key]: new_provinces[new_key]
        for new_key, old_keys in converter["DICT_PROVINCE"].items()
        for old_key in old_keys
    }
    check(len(new_province_of) == 63, "converter: old provinces are not 63")
    return AdminMap(old, new, new_province_of)


def km_between(a: Point, b: Point) -> float:
    """Great-circle distance in kilometres (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2
    h += math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


@dataclass(frozen=True)
class Graph:
    """Successor edges with their reverse: the old units that feed each new ward."""

    edges: Edges
    feeders: dict[str, tuple[str, ...]]

    @classmethod
    def of(cls, edges: Edges) -> Graph:
        """The graph of these edges."""
        feeders: dict[str, list[str]] = defaultdict(list)
        for old_code in sorted(edges):
            for new_code in edges[old_code]:
                feeders[new_code].append(old_code)
        return cls(edges, {new: tuple(olds) for new, olds in feeders.items()})

    def whole_feeders(self, new_code: str, besides: str) -> list[str]:
        """The old units other than `besides` that went wholly into new_code."""
        return [
            old
            for old in self.feeders.get(new_code, ())
            if old != besides and len(self.edges[old]) == 1
        ]


def edge_km(admin: AdminMap, graph: Graph, old_code: str, new_code: str) -> float:
    """How far the new ward lies from the old unit, robust to one wrong geocode.

    The package geocoded every unit, and some points are tens of kilometres off (old Xã Lương
    Điền of Vĩnh Tường was placed in Hải Dương). So the distance is the smallest between the old
    unit's points (its own, its district's) and the new ward's (its own, and those of the other
    old units that went wholly into it): a genuine edge is near on at least one of them.
    """
    here = admin.old[old_code].points
    there = [admin.new[new_code].point]
    for other in graph.whole_feeders(new_code, besides=old_code):
        there.extend(admin.old[other].points[:1])
    return min((km_between(a, b) for a in here for b in there), default=math.inf)


def nearest_twin(admin: AdminMap, graph: Graph, old_code: str, new_code: str) -> str:
    """Another old unit of the same new province and name that feeds new_code within NEAR_KM."""
    old = admin.old[old_code]
    province = admin.new_province_of[old.province_code]
    twins = [
        other
        for other in graph.feeders.get(new_code, ())
        if other != old_code
        and admin.old[other].name == old.name
        and admin.new_province_of[admin.old[other].province_code] == province
    ]
    near = sorted((edge_km(admin, graph, t, new_code), t) for t in twins)
    return near[0][1] if near and near[0][0] <= NEAR_KM else ""


def backing(admin: AdminMap, graph: Graph, old_code: str, new_code: str) -> str:
    """Evidence other than coordinates that an edge is genuine, or '' if there is none."""
    old, new = admin.old[old_code], admin.new[new_code]
    if new.code == old.code:
        return "the new ward carries the old unit's code"
    neighbours = [
        admin.old[other].label.split(", ")[0]
        for other in graph.whole_feeders(new_code, besides=old_code)
        if admin.old[other].district_code == old.district_code
    ]
    if neighbours:
        return f"merged with {', '.join(sorted(neighbours))} of the same district"
    namesakes = [o for o in graph.feeders.get(new_code, ()) if admin.old[o].name == old.name]
    if new.name == old.name and namesakes == [old_code]:
        return "the new ward carries the old unit's name"
    return ""


def judge(admin: AdminMap, graph: Graph, old_code: str, new_code: str) -> Verdict:
    """Validate one edge: the new ward lies in the old province's successor province, near the
    old unit, and is not the ward of a same-named unit of another city."""
    old, new = admin.old[old_code], admin.new[new_code]
    km = edge_km(admin, graph, old_code, new_code)
    if new.province_code != admin.new_province_of[old.province_code]:
        return Verdict(old_code, new_code, km, problem="outside the old province's successor")
    twin = nearest_twin(admin, graph, old_code, new_code) if km > NEAR_KM else ""
    if twin:
        twin_km = edge_km(admin, graph, twin, new_code)
        where = admin.old[twin].label.split(", ", 1)[-1]
        problem = f"cross-link: same-named {twin} of {where} feeds it from {twin_km:.1f} km"
        return Verdict(old_code, new_code, km, problem=problem, twin=twin)
    if km > FAR_KM:
        support = backing(admin, graph, old_code, new_code)
        if not support:
            return Verdict(old_code, new_code, km, problem=f"over {FAR_KM:.0f} km, no other link")
        return Verdict(old_code, new_code, km, backing=support)
    return Verdict(old_code, new_code, km)


def verdicts(admin: AdminMap, edges: Edges) -> list[Verdict]:
    """The verdict on every edge, in code order."""
    graph = Graph.of(edges)
    return [
        judge(admin, graph, old_code, new_code)
        for old_code in sorted(edges)
        for new_code in sorted(edges[old_code])
    ]


def mirror_ward(admin: AdminMap, graph: Graph, outlier: Verdict) -> str:
    """The new ward a cross-linked unit really went to, if the evidence names exactly one.

    When two same-named units were swapped, the twin has an edge to a ward that lies near the
    cross-linked unit and far from the twin itself: that ward is the right one.
    """
    if not outlier.twin:
        return ""
    candidates = [
        ward
        for ward in graph.edges[outlier.twin]
        if ward != outlier.new_code
        and edge_km(admin, graph, outlier.old_code, ward) <= NEAR_KM
        and edge_km(admin, graph, outlier.twin, ward) > NEAR_KM
    ]
    return candidates[0] if len(candidates) == 1 else ""


def resolve(admin: AdminMap, edges: Edges, outliers: list[Verdict]) -> tuple[Edges, list[Decision]]:
    """Drop or correct each outlier edge; stop if a unit would be left without successor (or a
    new ward without predecessor).

    An outlier is corrected when mirror_ward names the right ward and the unit has no edge to it
    yet, otherwise dropped if the old unit keeps another valid successor. A unit that lost its
    default gets the nearest remaining successor as default.
    """
    graph = Graph.of(edges)
    result = {old_code: dict(targets) for old_code, targets in edges.items()}
    flagged = {(o.old_code, o.new_code) for o in outliers}
    decisions, stranded = [], []
    for outlier in outliers:
        targets = result[outlier.old_code]
        mirror = mirror_ward(admin, graph, outlier)
        keeps = [n for n in targets if (outlier.old_code, n) not in flagged]
        if mirror and mirror not in targets:
            del targets[outlier.new_code]
            targets[mirror] = False  # the default is chosen again below if this one was it
        elif keeps:
            del targets[outlier.new_code]
            mirror = ""
        else:
            stranded.append(outlier)
            continue
        decisions.append(
            Decision(outlier.old_code, outlier.new_code, outlier.km, outlier.problem, mirror)
        )
    check(
        not stranded,
        "these edges fail validation but are their old unit's only successor: "
        + "; ".join(f"{o.old_code} -> {o.new_code} ({o.problem})" for o in stranded),
    )
    resolved = Graph.of(result)
    orphans = [d for d in decisions if d.new_code not in resolved.feeders]
    check(
        not orphans,
        "these edges fail validation but are their new ward's only predecessor: "
        + "; ".join(f"{d.old_code} -> {d.new_code} ({d.reason})" for d in orphans),
    )
    for old_code, targets in result.items():
        if sum(targets.values()) != 1:
            nearest = min(targets, key=lambda n: (edge_km(admin, resolved, old_code, n), n))
            result[old_code] = {n: n == nearest for n in targets}
    return result, decisions


def validate_successors(admin: AdminMap, edges: Edges) -> tuple[Edges, list[Decision]]:
    """Judge every edge and resolve the outliers until none is left (a correction can make the
    twin's mirrored edge an outlier in the next round)."""
    decisions: list[Decision] = []
    for _ in range(MAX_ROUNDS):
        outliers = [v for v in verdicts(admin, edges) if v.problem]
        if not outliers:
            return edges, decisions
        edges, resolved = resolve(admin, edges, outliers)
        decisions.extend(resolved)
    raise SystemExit(f"build_admin_seeds: successors still fail after {MAX_ROUNDS} rounds")


def converter_edges(db: sqlite3.Connection, converter: dict) -> Edges:
    """Old ward -> new ward edges of the package's converter (converter_2025.json), by code.

    The converter names units by key. An old unit is "provinceKey_districtKey_wardKey" of the
    legacy table; the ward part is empty for the five island districts that had no wards (Bạch
    Long Vĩ, Cồn Cỏ, Hoàng Sa, Lý Sơn, Côn Đảo), whose edge therefore starts from the district
    code. A new unit is wardKey within a new provinceKey of the 2025 table.

    DICT_PROVINCE_WARD_NO_DIVIDED lists, per new ward, the old wards that went wholly into it:
    one edge each, default. DICT_PROVINCE_WARD_DIVIDED lists, per old ward divided among several
    new wards, every new ward with isDefaultNewWard, the one the package's convert_address()
    picks when it has no street address to place: that is our default.
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
    new_province_of = {old: new for new, olds in converter["DICT_PROVINCE"].items() for old in olds}
    check(len(new_province_of) == 63, "converter: old provinces are not 63")

    edges: dict[str, list[tuple[str, bool, bool]]] = defaultdict(list)

    def add(old_key: str, new_province: str, new_ward: str, split: bool, default: bool) -> None:
        check(old_key in old_codes, f"converter: unknown old unit {old_key}")
        check((new_province, new_ward) in new_codes, f"converter: no {new_province} {new_ward}")
        check(
            new_province_of[old_key.split("_")[0]] == new_province,
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

    result: Edges = {}
    for old_key, targets in edges.items():
        new = [code for code, _, _ in targets]
        check(len(set(new)) == len(new), f"converter: {old_key} lists a new ward twice")
        split = {s for _, s, _ in targets}
        check(split == {len(targets) > 1}, f"converter: {old_key} split flag vs edge count")
        defaults = sum(d for _, _, d in targets)
        check(defaults == 1, f"converter: {old_key} has {defaults} default new wards")
        result[old_codes[old_key]] = {code: default for code, _, default in targets}
    missing = sorted(set(old_codes) - set(edges))
    print(f"old units without a successor: {len(missing)} {missing[:10]}")
    check(not missing, f"{len(missing)} old units have no successor, e.g. {missing[:5]}")
    return result


def check_coverage(admin: AdminMap, edges: Edges) -> None:
    """Every old unit has a successor, one of them the default; every new ward a predecessor."""
    missing = sorted(set(admin.old) - {o for o, targets in edges.items() if targets})
    check(not missing, f"{len(missing)} old units have no successor, e.g. {missing[:5]}")
    unreached = sorted(set(admin.new) - set(Graph.of(edges).feeders))
    check(not unreached, f"{len(unreached)} new wards have no predecessor, e.g. {unreached[:5]}")
    defaults = {o: sum(t.values()) for o, t in edges.items()}
    wrong = sorted(o for o, n in defaults.items() if n != 1)
    check(not wrong, f"old units without exactly one default successor: {wrong[:5]}")


def successor_rows(edges: Edges) -> list[dict[str, str]]:
    """The rows of admin_unit_successors.csv: is_split when an old unit has several successors."""
    return [
        {
            "old_code": old_code,
            "new_code": new_code,
            "is_split": str(len(edges[old_code]) > 1).lower(),
            "is_default": str(edges[old_code][new_code]).lower(),
        }
        for old_code in sorted(edges)
        for new_code in sorted(edges[old_code])
    ]


@dataclass(frozen=True)
class SuccessorBuild:
    """The validated successor edges, what was done to the package's, and the far edges kept."""

    admin: AdminMap
    edges: Edges
    decisions: list[Decision]
    kept: list[Verdict]  # edges over FAR_KM kept on other evidence
    p99_km: float  # the 99th percentile of the package's edges
    longest_plain: Verdict  # the longest edge kept on its distance alone


def successors(db: sqlite3.Connection, converter: dict) -> SuccessorBuild:
    """The package's old -> new edges, every one validated (see judge), outliers resolved."""
    admin = admin_map(db, converter)
    upstream = converter_edges(db, converter)
    distances = sorted(v.km for v in verdicts(admin, upstream))
    edges, decisions = validate_successors(admin, upstream)
    check_coverage(admin, edges)
    final = verdicts(admin, edges)
    kept = [v for v in final if v.backing]
    longest = max((v for v in final if not v.backing), key=lambda v: v.km)
    print(f"successor edges: {len(decisions)} dropped or corrected, {len(kept)} far ones kept")
    p99 = distances[int(0.99 * len(distances))]
    return SuccessorBuild(admin, edges, decisions, kept, p99, longest)


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
    counted = successor_counts(edges)
    print(f"successor edges: {counted}")
    check(counted == EXPECTED_SUCCESSORS, f"successor counts {counted} != {EXPECTED_SUCCESSORS}")
    for old, new_code, new_name in KNOWN_SUCCESSORS:
        found = [(e["new_code"], new_by_code[e["new_code"]]["short_name"]) for e in by_old[old]]
        print(f"old {old} -> {found}")
        check(
            [e["new_code"] for e in by_old[old]] == [new_code]
            and new_by_code[new_code]["short_name"] == new_name,
            f"old {old} should become {new_code} {new_name}, the seeds say {found}",
        )

    binh_hien = [r for r in alias_rows if r["alias_ascii"] == "binhhien"]
    print(f"alias binhhien: {binh_hien}")
    check(
        any(r["admin_unit_code"] == "20242" and r["map"] == "legacy" for r in binh_hien),
        f"Bình Hiên should be an alias of legacy 20242 Phước Ninh, the package says {binh_hien}",
    )


def successor_counts(rows: list[dict[str, str]]) -> dict[str, int]:
    """Edges, old units that went wholly into one ward, split old units and their edges."""
    per_old = Counter(r["old_code"] for r in rows)
    split = [n for n in per_old.values() if n > 1]
    return {
        "edges": len(rows),
        "whole": len(per_old) - len(split),
        "split": len(split),
        "split_edges": sum(split),
        "most_successors": max(per_old.values()),
    }


def wrap(text: str, bullet: bool = False) -> str:
    """A README paragraph (or list item) wrapped at 100 columns."""
    indent = "  " if bullet else ""
    return textwrap.fill(
        text, width=100, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
    )


def readme_counts(build: SuccessorBuild) -> list[str]:
    """The README's list of successor counts."""
    counted = successor_counts(successor_rows(build.edges))
    whole = (
        f"- {counted['whole']:,} old units went wholly into one new ward: one edge,"
        " `is_split = false`, `is_default = true`."
    )
    split = (
        f"- {counted['split']:,} old wards were divided among 2 to {counted['most_successors']}"
        f" new wards ({counted['split_edges']:,} edges, `is_split = true`). Exactly one of them"
        " is `is_default`: the ward the upstream converter assigns when it has no street address"
        " to place, and the one an old ward's additive figures follow when they are moved to"
        " today's map."
    )
    return [wrap(whole, bullet=True), wrap(split, bullet=True), "", f"{counted['edges']:,} edges."]


def readme_rule(build: SuccessorBuild) -> str:
    """The README's paragraph on how every edge is checked, with the figures behind it."""
    admin, longest = build.admin, build.longest_plain
    shortest = min((d for d in build.decisions if "cross-link" in d.reason), key=lambda d: d.km)

    def edge(old_code: str, new_code: str) -> str:
        return f"{admin.old[old_code].label.split(', ')[0]} ({old_code}) → {new_code}"

    return wrap(
        "**Checked edge by edge.** The script checks every edge of the upstream converter"
        " against the coordinates and provinces the package carries. An edge's distance"
        " (`km` below) is the shortest between the old unit's point or its district's and the new"
        " ward's point or those of the old units merged wholly into it, so that one wrong"
        " geocode does not condemn a genuine edge. An edge is an outlier when the new ward lies"
        " outside the new province the old unit's province went to (none does); when it is"
        f" longer than {NEAR_KM:.0f} km and a same-named old unit of the same new province feeds"
        f" the same new ward from within {NEAR_KM:.0f} km (the upstream converter matched names"
        " such as `Phường 4` or `Tân Thạnh` to every unit of that name in a merged province);"
        f" or when it is longer than {FAR_KM:.0f} km and nothing else links the two (the new"
        " ward carries neither the old unit's code nor its name, and no other unit of the old"
        " unit's district went wholly into it). 99% of the upstream edges are within"
        f" {build.p99_km:.1f} km; the longest kept on its distance alone is"
        f" {edge(longest.old_code, longest.new_code)} ({longest.km:.1f} km), the shortest"
        f" cross-link {edge(shortest.old_code, shortest.new_code)} ({shortest.km:.1f} km):"
        " distance alone cannot tell them apart, the shared name can. An outlier is dropped when"
        " its old unit keeps another valid successor, corrected when the same-named unit's"
        " edges name the right ward (two units swapped), and the build stops otherwise. A unit"
        " left with one successor is no longer split; one that lost its default successor takes"
        " the nearest remaining one."
    )


def decision_table(build: SuccessorBuild) -> list[str]:
    """The README table of the edges dropped or corrected."""
    admin = build.admin
    lines = [
        "| old code | old unit | new code | new ward | km | reason | done |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in sorted(build.decisions, key=lambda d: (d.old_code, d.new_code)):
        targets = build.edges[d.old_code]
        done = f"corrected to {d.corrected_to}" if d.corrected_to else "dropped"
        if len(targets) == 1:
            done += f"; now wholly in {next(iter(targets))}"
        lines.append(
            f"| {d.old_code} | {admin.old[d.old_code].label} | {d.new_code} |"
            f" {admin.new[d.new_code].label} | {d.km:.1f} | {d.reason} | {done} |"
        )
    return lines


def kept_table(build: SuccessorBuild) -> list[str]:
    """The README table of the edges over FAR_KM kept on other evidence."""
    admin = build.admin
    intro = (
        f"Edges longer than {FAR_KM:.0f} km kept because something else links them (the"
        " package's point of one side is wrong: Huyện Hoàng Sa is placed in Đà Nẵng city):"
    )
    lines = [
        wrap(intro),
        "",
        "| old code | old unit | new code | new ward | km | kept because |",
        "|---|---|---|---|---|---|",
    ]
    for v in build.kept:
        lines.append(
            f"| {v.old_code} | {admin.old[v.old_code].label} | {v.new_code} |"
            f" {admin.new[v.new_code].label} | {v.km:.1f} | {v.backing} |"
        )
    return lines


def readme_block(build: SuccessorBuild) -> str:
    """The generated part of seeds/README.md: counts, the rule, the dropped and the kept edges."""
    parts = [*readme_counts(build), "", readme_rule(build), "", *decision_table(build), ""]
    return "\n".join([*parts, *kept_table(build)]) + "\n"


def update_readme(block: str) -> None:
    """Replace the generated part of seeds/README.md (between its two markers) with block."""
    path = SEEDS / "README.md"
    text = path.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    check(0 <= start < end, f"{path} lacks the markers {README_START!r} and {README_END!r}")
    path.write_text(text[: start + len(README_START)] + "\n" + block + text[end:], encoding="utf-8")
    print(f"wrote the successor section of {path}")


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
        build = successors(db, converter)
        alias_rows = aliases(db)
    edges = successor_rows(build.edges)
    spot_checks(legacy, new, edges, alias_rows)
    write("admin_units.csv", COLUMNS, legacy)
    write("admin_units_2025.csv", COLUMNS, new)
    write("admin_unit_successors.csv", SUCCESSOR_COLUMNS, edges)
    write("admin_unit_aliases.csv", ALIAS_COLUMNS, alias_rows)
    update_readme(readme_block(build))


if __name__ == "__main__":
    main()
