"""The incremental build equals a full refresh, row by row.

A first batch of submissions is loaded with the real loader and built with dbt. Then a second
batch lands: a new month, a resubmission of an old period (a changed value, withdrawn figures, a
corrected year-to-date report that changes the next one's increment), a late file for an old
period, a new target file and a review decision accepting a narrative report's figures. The
incremental build that follows must rewrite only the rows of what changed, and leave every
incremental model and every audit table exactly as a full refresh of the same raw data does.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from conftest import rows

from nhandao import dbt, generate, ingest, review

PROVINCES = ("48", "93")  # Đà Nẵng and Hậu Giang, 2023: small enough to build three times
YEAR = 2023
HEADER = ",".join(generate.COLUMNS)
TARGET_HEADER = ",".join(ingest.TARGET_COLUMNS)
LATE = "48-492-2023M05.csv"  # Hải Châu's May report arrives late, in the second batch
RESUBMITTED = "48-493-2023M03.csv"  # Thanh Khê corrects its March report
NARRATIVE = "492-2023M06-bao-cao.md"
NARRATIVE_TEXT = "Trong tháng, Hội đã trao tặng 300 suất quà, tổng trị giá 90 triệu đồng.\n"
SNAPSHOT = "incremental_snapshot"
FACTS = ("fct_aid_value", "fct_blood_units", "fct_households_helped")
# columns that say when a build ran, not what it computed
BUILD_TIME_COLUMNS = {"change_batch", "logged_at"}


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def resubmission(original: Path, out: Path) -> tuple[str, str]:
    """The district's March report again: its blood units corrected (+100), one ward's
    households and beneficiaries withdrawn, another ward left out (its first version stays
    current). Returns (the ward that withdrew figures, the ward left out)."""
    figures = read_rows(original)
    wards = sorted(
        {r["reporting_unit_code"] for r in figures if len(r["reporting_unit_code"]) == 5}
    )
    withdrawing, left_out = wards[0], wards[1]
    kept = []
    for row in figures:
        unit, indicator = row["reporting_unit_code"], row["indicator_code"]
        if unit == left_out:
            continue
        if (
            unit == withdrawing
            and row["program_code"] == "general"
            and indicator
            in (
                "households_supported",
                "beneficiaries",
            )
        ):
            continue
        if indicator == "blood_units":
            row = {**row, "value": str(int(row["value"]) + 100)}
        kept.append(",".join(row[c] for c in generate.COLUMNS))
    write(out, [HEADER, *kept])
    return withdrawing, left_out


def batches(folder: Path) -> tuple[list[Path], list[Path], dict]:
    """Write both batches; return their paths and what the second one changes."""
    generated = folder / "generated"
    paths = [
        path
        for province in PROVINCES
        for path in generate.generate_province(province, range(YEAR, YEAR + 1), generated, seed=5)
    ]
    first = [p for p in paths if not p.name.endswith(f"{YEAR}M12.csv") and p.name != LATE]
    new_month = [p for p in paths if p.name.endswith(f"{YEAR}M12.csv")]
    extra = folder / "extra"
    extra.mkdir()
    # Hải Châu also reports houses built year to date; its June figure is corrected later
    first.append(
        write(
            extra / "48-492-2023YTD.csv",
            [
                HEADER,
                "492,Quận Hải Châu,2023YTD06,houses_built,10,,general,",
                "492,Quận Hải Châu,2023YTD09,houses_built,16,,general,",
            ],
        )
    )
    first.append(
        write(
            extra / "48-targets-2023.csv",
            [TARGET_HEADER, "492,Quận Hải Châu,2023,blood_units,3000,"],
        )
    )
    first.append(write(extra / NARRATIVE, [NARRATIVE_TEXT]))
    withdrawing, left_out = resubmission(generated / RESUBMITTED, extra / "48-493-2023M03-v2.csv")
    second = [
        *new_month,
        generated / LATE,
        extra / "48-493-2023M03-v2.csv",
        write(
            extra / "48-492-2023YTD-v2.csv",
            [
                HEADER,
                "492,Quận Hải Châu,2023YTD06,houses_built,12,,general,",
                "492,Quận Hải Châu,2023YTD12,houses_built,20,,general,",
            ],
        ),
        write(
            extra / "48-targets-2023-v2.csv",
            [TARGET_HEADER, "492,Quận Hải Châu,2023,blood_units,3500,"],
        ),
    ]
    return first, second, {"withdrawing": withdrawing, "left_out": left_out}


def built_tables() -> dict[str, tuple[str, bool]]:
    """Every model dbt builds as a table: name -> (relation, whether it is incremental)."""
    manifest = json.loads(dbt.manifest_path().read_text(encoding="utf-8"))
    return {
        node["name"]: (node["relation_name"], node["config"]["materialized"] == "incremental")
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and node["config"]["materialized"] in ("table", "incremental")
    }


def columns(conn: psycopg.Connection, relation: str) -> list[str]:
    schema, table = [part.strip('"') for part in relation.split(".")][-2:]
    names = conn.execute(
        "select column_name from information_schema.columns"
        " where table_schema = %s and table_name = %s order by ordinal_position",
        (schema, table),
    ).fetchall()
    return [name for (name,) in names if name not in BUILD_TIME_COLUMNS]


def load(paths: list[Path], url: str) -> None:
    results = ingest.ingest_paths(paths, url)
    assert [(r.path.name, r.status, r.rows_rejected) for r in results] == [
        (p.name, "loaded", 0) for p in paths
    ]


def rewritten(url: str, fact: str, before: dict[str, str]) -> set[tuple[str, str, str]]:
    """The submissions whose rows in `fact` the last build wrote (their row version changed)."""
    after = rows(
        url,
        f"select figure_id, xmin::text, reporting_unit_code, period_code,"
        f" program_code from audit.{fact}",
    )
    return {
        (unit, period, program)
        for figure, xmin, unit, period, program in after
        if before.get(figure) != xmin
    }


@pytest.fixture(scope="module")
def incremental(module_warehouse_url, manifest, tmp_path_factory):
    """Both batches loaded, the first built in full, the second incrementally."""
    url = module_warehouse_url
    first, second, changed = batches(tmp_path_factory.mktemp("incremental"))
    load(first, url)
    dbt.run(["build", "--quiet"], url)
    versions = {
        fact: dict(rows(url, f"select figure_id, xmin::text from audit.{fact}")) for fact in FACTS
    }
    [(first_build,)] = rows(
        url, "select max(change_batch) from intermediate.int_submission_changes"
    )

    load(second, url)
    [(narrative_file,)] = rows(
        url, "select file_id from raw.submission_files where file_name = %s", (NARRATIVE,)
    )
    with psycopg.connect(url) as conn:
        review.decide(conn, narrative_file, "accepted", note="đã đối chiếu sổ sách")
    dbt.run(["build", "--quiet"], url)
    touched = set(
        rows(
            url,
            "select distinct reporting_unit_code, period_code, program_code"
            " from intermediate.int_submission_changes where change_batch > %s",
            (first_build,),
        )
    )
    return {
        "url": url,
        "changed": changed,
        "touched": touched,
        "rewritten": {fact: rewritten(url, fact, versions[fact]) for fact in FACTS},
    }


def test_the_second_batch_corrects_the_marts(incremental):
    url, changed = incremental["url"], incremental["changed"]
    # the resubmission: its blood units corrected, its second version current
    [(units, version_count)] = rows(
        url,
        "select value, version_count from audit.fct_blood_units where reporting_unit_code = '493'"
        " and period_code = '2023M03' and indicator_code = 'blood_units'",
    )
    assert version_count == 2
    original = next(r for r in read_rows_of(url, "48-493-2023M03.csv") if r[0] == "blood_units")
    assert units == original[1] + 100
    # the withdrawn figures are gone from their fact, the ward's other figures stay
    assert rows(
        url,
        "select count(*) from audit.fct_households_helped where reporting_unit_code = %s"
        " and period_code = '2023M03' and program_code = 'general'",
        (changed["withdrawing"],),
    ) == [(0,)]
    assert rows(
        url,
        "select count(*), min(version_count) from audit.fct_aid_value"
        " where reporting_unit_code = %s and period_code = '2023M03' and program_code = 'general'",
        (changed["withdrawing"],),
    ) == [(2, 2)]
    # the ward the resubmission left out keeps its first version
    assert rows(
        url,
        "select distinct version_count from audit.fct_aid_value"
        " where reporting_unit_code = %s and period_code = '2023M03'",
        (changed["left_out"],),
    ) == [(1,)]
    # the late May report and the new month are in
    assert rows(
        url,
        "select count(distinct period_code) from audit.fct_blood_units"
        " where reporting_unit_code = '492' and period_code in ('2023M05', '2023M12')",
    ) == [(2,)]
    # the corrected June year-to-date figure changes the increment after it
    assert rows(
        url,
        "select source_period_code, value from intermediate.int_figure_increments"
        " where reporting_unit_code = '492' and indicator_code = 'houses_built'"
        " order by end_date",
    ) == [("2023YTD06", 12), ("2023YTD09", 4), ("2023YTD12", 4)]
    # the new target, and the accepted narrative figures
    assert rows(
        url,
        "select target from audit.mart_unit_scorecard where admin_unit_code = '492'"
        " and year = 2023 and indicator_code = 'blood_units'",
    ) == [(Decimal(3500),)]
    assert rows(
        url,
        "select indicator_code, value from audit.fct_aid_value where reporting_unit_code = '492'"
        " and period_code = '2023M06' and program_code = 'general' order by 1",
    ) == [("aid_value_vnd", 90_000_000), ("gift_packages", 300)]


def read_rows_of(url: str, file_name: str) -> list[tuple]:
    """(indicator, value) of the district's own figures in a loaded file."""
    return rows(
        url,
        "select indicator_code, parsed_value from raw.submission_rows join raw.submission_files"
        " using (file_id) where file_name = %s and length(reporting_unit_code) = 3",
        (file_name,),
    )


def test_only_what_changed_is_rewritten(incremental):
    """A fact's rows are rewritten for the submissions the second batch touched, and only for
    them: the rest keep the row versions the first build wrote."""
    touched = incremental["touched"]
    assert {("492", "2023M05", "blood_donation"), ("493", "2023M03", "blood_donation")} <= touched
    for fact, written in incremental["rewritten"].items():
        assert written, fact
        assert written <= touched, (fact, sorted(written - touched)[:5])
    # what the first build wrote and nothing changed keeps its row versions
    assert ("492", "2023M01", "blood_donation") not in touched


def test_the_incremental_build_equals_a_full_refresh(incremental):
    url = incremental["url"]
    tables = built_tables()
    assert {name for name, (_, is_incremental) in tables.items() if is_incremental} >= {
        "int_submission_changes",
        "int_submission_versions",
        "int_figures_deduplicated",
        "int_figure_increments",
        *FACTS,
        "fct_figure_revisions",
        "mart_unit_year_totals",
        "mart_unit_scorecard",
    }
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"create schema {SNAPSHOT}")
        for name, (relation, _) in tables.items():
            conn.execute(f"create table {SNAPSHOT}.{name} as select * from {relation}")

    dbt.run(["build", "--full-refresh", "--quiet"], url)

    differences = {}
    with psycopg.connect(url) as conn:
        for name, (relation, _) in sorted(tables.items()):
            listed = ", ".join(f'"{c}"' for c in columns(conn, relation))
            assert listed == ", ".join(f'"{c}"' for c in columns(conn, f"{SNAPSHOT}.{name}"))
            count = conn.execute(f"select count(*) from {relation}").fetchone()[0]
            assert count > 0, name
            only_incremental, only_full = (
                conn.execute(
                    f"select count(*) from (select {listed} from {a}"
                    f" except all select {listed} from {b}) as difference"
                ).fetchone()[0]
                for a, b in ((f"{SNAPSHOT}.{name}", relation), (relation, f"{SNAPSHOT}.{name}"))
            )
            if only_incremental or only_full:
                differences[name] = (only_incremental, only_full, count)
    assert differences == {}


def test_a_change_of_reference_data_rebuilds_every_row(incremental):
    """When the dimensions (or seeded targets) change, every submission is logged again: the
    next build recomputes every row. Simulated by making the last build's reference look stale;
    the rows come out as they were (the reference did not really change), all rewritten."""
    url = incremental["url"]
    before = dict(rows(url, "select figure_id, xmin::text from audit.fct_blood_units"))
    with psycopg.connect(url) as conn:
        conn.execute(
            "update intermediate.int_submission_changes set reference_fingerprint = 'stale'"
            " where change_batch = (select max(change_batch)"
            " from intermediate.int_submission_changes)"
        )
    dbt.run(
        [
            "run",
            "--quiet",
            "--select",
            "int_submission_changes int_submission_versions int_figures_deduplicated"
            " fct_blood_units",
        ],
        url,
    )
    [(logged, submissions)] = rows(
        url,
        "select (select count(*) from intermediate.int_submission_changes"
        "        where source_kind = 'reference'),"
        " (select count(distinct (reporting_unit_code, period_code, program_code))"
        "  from intermediate.int_submission_changes where source_kind <> 'reference')",
    )
    assert logged == submissions
    after = dict(rows(url, "select figure_id, xmin::text from audit.fct_blood_units"))
    assert after.keys() == before.keys()
    assert all(after[figure] != before[figure] for figure in before)
    listed = ", ".join(f'"{c}"' for c in columns_of(url, '"audit"."fct_blood_units"'))
    assert rows(
        url,
        f"select count(*) from (select {listed} from audit.fct_blood_units"
        f" except all select {listed} from {SNAPSHOT}.fct_blood_units) as difference",
    ) == [(0,)]


def columns_of(url: str, relation: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return columns(conn, relation)
