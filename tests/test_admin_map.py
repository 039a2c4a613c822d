"""The old -> new ward edges of seeds/admin_unit_successors.csv: no cross-links between same-named
wards, every edge near its old unit and inside its province's successor, full coverage.

The committed seeds are judged with the validation of scripts/build_admin_seeds.py on the
coordinates of the vietnamadminunits package (the dev dependency the seeds are built from); one
case is read back through a real dbt build of dim_admin_unit. Small hand-made maps check how an
outlier is dropped, corrected or refused.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import sqlite3
import sys
from importlib import resources
from pathlib import Path

import pytest
from conftest import rows

from nhandao import dbt

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"


def _script():
    """scripts/build_admin_seeds.py, imported from its file."""
    spec = importlib.util.spec_from_file_location(
        "build_admin_seeds", ROOT / "scripts" / "build_admin_seeds.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


seeds = _script()


def read_csv(name: str) -> list[dict[str, str]]:
    with open(SEEDS / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def committed() -> dict[str, dict[str, bool]]:
    """The committed edges: old code -> {new code: is default}."""
    edges: dict[str, dict[str, bool]] = {}
    for row in read_csv("admin_unit_successors.csv"):
        edges.setdefault(row["old_code"], {})[row["new_code"]] = row["is_default"] == "true"
    return edges


@pytest.fixture(scope="module")
def package():
    """What the script builds from the package: (its build, the converter's own edges)."""
    data = resources.files("vietnamadminunits").joinpath("data")
    converter = json.loads(data.joinpath("converter_2025.json").read_text("utf-8"))
    with resources.as_file(data.joinpath("dataset.db")) as path, sqlite3.connect(path) as db:
        return seeds.successors(db, converter), seeds.converter_edges(db, converter)


# (old code, the cross-linked new ward the package gives it, its successors now {code: default})
CROSS_LINKS = [
    # Phường 4 of Tân An (Long An) and Phường 4 of Tây Ninh city, 90 km apart: each went wholly
    # into its own city's new ward, the package linked each to the other's too
    ("27691", "25459", {"27694": True}),
    ("25462", "27694", {"25459": True}),
    # Xã Tân Thạnh of Thới Lai (Cần Thơ) and of Long Phú (Sóc Trăng), 80 km apart
    ("31268", "31666", {"31288": True}),
    ("31666", "31288", {"31666": True}),
    # Phường 4 of Sa Đéc and of Mỹ Tho -> Phường Cao Lãnh (where Cao Lãnh's own Phường 4 went)
    ("29908", "29869", {"29905": True}),
    ("28252", "29869", {"28249": True}),
    # Xã Hòa Bình of Kim Thành (Hải Dương) -> Vĩnh Bảo's ward; it stays split between two wards
    ("10798", "11911", {"10804": False, "10843": True}),
]


@pytest.mark.parametrize(("old", "wrong", "successors"), CROSS_LINKS)
def test_known_cross_links_are_gone(committed, old, wrong, successors):
    assert wrong not in committed[old]
    assert committed[old] == successors


def test_the_validation_finds_the_cross_links_in_the_package(package):
    """The package's own edges fail the check the committed ones pass (see below)."""
    build, upstream = package
    problems = {(v.old_code, v.new_code): v for v in seeds.verdicts(build.admin, upstream)}
    for old, wrong, _ in CROSS_LINKS:
        assert "cross-link" in problems[old, wrong].problem
    assert problems["27691", "25459"].twin == "25462"
    assert sum(bool(v.problem) for v in problems.values()) == 30


def test_every_committed_edge_passes_the_validation(package, committed):
    build, _ = package
    judged = seeds.verdicts(build.admin, committed)
    assert len(judged) == sum(len(t) for t in committed.values())
    assert [v for v in judged if v.problem] == []
    # over FAR_KM only with other evidence (the new ward has the old code or name, or neighbours)
    assert all(v.km <= seeds.FAR_KM or v.backing for v in judged)
    assert max(v.km for v in judged if not v.backing) <= seeds.FAR_KM


def test_every_edge_stays_in_the_old_provinces_successor(package):
    """Each old province went wholly into one new province: the 2025 reform's mapping."""
    build, _ = package
    old = {r["admin_unit_code"]: r["province_code"] for r in read_csv("admin_units.csv")}
    new = {r["admin_unit_code"]: r["province_code"] for r in read_csv("admin_units_2025.csv")}
    edges = read_csv("admin_unit_successors.csv")
    went_to: dict[str, set[str]] = {}
    for edge in edges:
        went_to.setdefault(old[edge["old_code"]], set()).add(new[edge["new_code"]])
    assert {p: {build.admin.new_province_of[p]} for p in went_to} == went_to
    assert len(went_to) == 63
    assert went_to["72"] == went_to["80"] == {"80"}  # Tây Ninh and Long An: new Tây Ninh 80


def test_every_unit_has_a_successor_and_every_new_ward_a_predecessor(committed):
    legacy = read_csv("admin_units.csv")
    old = {u["admin_unit_code"] for u in legacy if u["admin_level"] == "ward"}
    old |= {"318", "471", "498", "536", "755"}  # the island districts without wards
    new = {u["admin_unit_code"] for u in read_csv("admin_units_2025.csv")}
    new_wards = {u for u in new if len(u) == 5}
    assert set(committed) == old
    assert {n for targets in committed.values() for n in targets} == new_wards
    assert all(sum(targets.values()) == 1 for targets in committed.values())  # one default
    for row in read_csv("admin_unit_successors.csv"):
        assert (row["is_split"] == "true") == (len(committed[row["old_code"]]) > 1)
    split = [t for t in committed.values() if len(t) > 1]
    # the package's 471 split wards less the 28 whose only other edge was a cross-link
    assert (len(split), sum(map(len, split))) == (443, 975)


def test_the_seeds_and_their_readme_are_what_the_script_builds(package):
    build, _ = package
    assert seeds.successor_rows(build.edges) == read_csv("admin_unit_successors.csv")
    readme = (SEEDS / "README.md").read_text(encoding="utf-8")
    block = readme.split(seeds.README_START)[1].split(seeds.README_END)[0]
    assert block == "\n" + seeds.readme_block(build)
    table = [[c.strip() for c in line.split("|")] for line in block.splitlines()]
    listed = {(c[1], c[3]) for c in table if len(c) == 9 and c[7].startswith("dropped")}
    assert len(listed) == 30 and ("27691", "25459") in listed


@pytest.mark.dbt
def test_dim_admin_unit_puts_phuong_4_of_tan_an_wholly_into_phuong_long_an(warehouse_url):
    selection = ["--select", "+dim_admin_unit", "--indirect-selection", "cautious"]
    dbt.run(["build", "--quiet", *selection], warehouse_url)
    found = rows(
        warehouse_url,
        "select admin_unit_id, current_admin_unit_code, is_split from audit.dim_admin_unit"
        " where admin_unit_id in ('27691@2019-01-01', '10798@2019-01-01') order by 1",
    )
    assert found == [("10798@2019-01-01", "10843", True), ("27691@2019-01-01", "27694", False)]


# Hand-made maps: two cities of one merged province, 111 km apart, each with a Phường 4.


def small_map() -> seeds.AdminMap:
    """Old wards A, B (both 'Phường 4', of cities 1 and 2), C (next to A), D (next to B), E (next
    to A, city 1); new wards Y1 (near A), Y2 (near B), W (near A)."""
    old = {
        "A": ((10.00, 106.0), "Phường 4", "D1"),
        "B": ((11.00, 106.0), "Phường 4", "D2"),
        "C": ((10.01, 106.0), "Phường 1", "D1"),
        "D": ((11.01, 106.0), "Phường 1", "D2"),
        "E": ((9.99, 106.0), "Phường 2", "D1"),
    }
    new = {"Y1": (10.005, 106.0), "Y2": (11.005, 106.0), "W": (9.995, 106.0)}
    return seeds.AdminMap(
        old={
            code: seeds.OldUnit(code, f"{name}, city {d}", name, d, "01", (point,))
            for code, (point, name, d) in old.items()
        },
        new={
            code: seeds.NewUnit(code, f"Phường {code}", code, "01", point)
            for code, point in new.items()
        },
        new_province_of={"01": "01"},
    )


def test_a_cross_link_is_dropped_and_the_default_chosen_again():
    # A's default is B's ward Y2, 111 km away; B is linked to A's ward Y1 as well
    edges = {
        "A": {"Y1": False, "Y2": True},
        "B": {"Y1": False, "Y2": True},
        "C": {"Y1": True},
        "D": {"Y2": True},
        "E": {"W": True},
    }
    result, decisions = seeds.validate_successors(small_map(), edges)
    assert result == {**edges, "A": {"Y1": True}, "B": {"Y2": True}}
    assert {(d.old_code, d.new_code, d.corrected_to) for d in decisions} == {
        ("A", "Y2", ""),
        ("B", "Y1", ""),
    }
    assert all(d.reason.startswith("cross-link: same-named") for d in decisions)


def test_a_swapped_edge_is_corrected_to_the_ward_its_twin_was_given():
    # A should have gone to Y1 (next to it), which the package gave its twin B instead
    edges = {
        "A": {"W": True, "Y2": False},
        "B": {"Y1": False, "Y2": True},
        "C": {"Y1": True},
        "D": {"Y2": True},
        "E": {"W": True},
    }
    result, decisions = seeds.validate_successors(small_map(), edges)
    assert result["A"] == {"W": True, "Y1": False} and result["B"] == {"Y2": True}
    assert [(d.old_code, d.new_code, d.corrected_to) for d in decisions] == [
        ("A", "Y2", "Y1"),
        ("B", "Y1", ""),
    ]
    assert "no other link" in decisions[1].reason  # 111 km, in the first round


def test_an_outlier_that_is_the_only_successor_stops_the_build():
    edges = {"A": {"Y2": True}, "B": {"Y2": True}, "C": {"Y1": True}, "E": {"W": True}}
    with pytest.raises(SystemExit, match=r"only successor: A -> Y2 \(cross-link: same-named B"):
        seeds.validate_successors(small_map(), edges)


def test_an_outlier_that_is_the_only_predecessor_of_its_new_ward_stops_the_build():
    # A -> Y2 is 111 km long with nothing else linking them, and nothing else feeds Y2
    edges = {"A": {"Y1": True, "Y2": False}, "C": {"Y1": True}, "E": {"W": True}}
    with pytest.raises(SystemExit, match=r"new ward's only predecessor: A -> Y2 \(over 20 km"):
        seeds.validate_successors(small_map(), edges)


def test_a_far_edge_is_kept_only_with_other_evidence():
    admin = small_map()
    # C -> Y2 is 111 km long: Y2 carries neither C's code nor its name, no neighbour of C feeds it
    edges = {"A": {"Y1": True}, "B": {"Y2": True}, "C": {"Y1": True, "Y2": False}, "E": {"W": True}}
    [far] = [v for v in seeds.verdicts(admin, edges) if v.problem]
    assert (far.old_code, far.new_code, far.problem) == ("C", "Y2", "over 20 km, no other link")
    # the same edge where the new ward carries C's code
    admin.new["C"] = seeds.NewUnit("C", "Phường C", "C", "01", (11.005, 106.0))
    edges["C"] = {"Y1": True, "C": False}
    [kept] = [v for v in seeds.verdicts(admin, edges) if v.km > seeds.FAR_KM]
    assert (kept.problem, kept.backing) == ("", "the new ward carries the old unit's code")
