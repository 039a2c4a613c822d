"""The incremental build equals a full refresh, row by row.

A small national run (`generate.generate_national`: Đà Nẵng in 2025, across the reform of
1 July: its districts until June, then the communes of the new Đà Nẵng, which took in Quảng
Nam) is loaded with the real loader in the order the files were sent, and built with dbt up to
the day the last month's reports began to arrive. Then the rest lands: the new month, late
reports of earlier months, corrected resubmissions (`_v2`) and year-to-date reports; with them a
hand-made resubmission of an old period (a changed value, withdrawn figures), a corrected
year-to-date report that changes the next one's increment, a new target file and a review
decision accepting a narrative report's figures. The incremental build that follows must rewrite
only the rows of what changed, and leave every incremental model and every audit table exactly as
a full refresh of the same raw data does.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from conftest import rows

from nhandao import dbt, submission_format
from nhandao.ingest import load, review
from nhandao.sample import generate

pytestmark = pytest.mark.dbt

PROVINCES = ("48",)  # Đà Nẵng before the reform; the new Đà Nẵng (with Quảng Nam) after it
YEAR = 2025
SEED = 7
HEADER = ",".join(submission_format.COLUMNS)
TARGET_HEADER = ",".join(submission_format.TARGET_COLUMNS)
RESUBMITTED = "48-493-2025M03.csv"  # Thanh Khê corrects its March report (by hand)
NARRATIVE = "492-2025M06-bao-cao.md"
NARRATIVE_TEXT = "Trong tháng, Hội đã trao tặng 300 suất quà, tổng trị giá 90 triệu đồng.\n"
SNAPSHOT = "incremental_snapshot"
FACTS = ("fct_aid_value", "fct_blood_units", "fct_households_helped")
HOUSEHOLDS_HELPED = (  # the indicators of fct_households_helped (seeds/indicators.csv)
    "households_supported",
    "beneficiaries",
    "houses_built",
    "health_insurance_cards",
    "scholarships",
)
# Thanh Khê's March blood donation report sent a third time
RESENT = "493,Quận Thanh Khê,2025M03,blood_units,1.234,,blood_donation,"
# columns that say which build logged a change, not what was computed
BUILD_COLUMNS = {"change_batch", "logged_at"}


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def period_of(path: Path) -> str:
    """2025M03 of 48-493-2025M03.csv and of 48-493-2025M03_v2.csv."""
    return path.stem.split("-")[-1].removesuffix("_v2")


def resubmission(original: Path, out: Path) -> tuple[str, str]:
    """The district's March report again: its blood units corrected (+100), one ward's
    figures of fct_households_helped withdrawn, another ward left out (its first version stays
    current). Returns (the ward that withdrew figures, the ward left out)."""
    figures = read_rows(original)
    wards = sorted(
        {r["reporting_unit_code"] for r in figures if len(r["reporting_unit_code"]) == 5}
    )
    withdrawing, left_out = wards[0], wards[1]
    with open(out, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, submission_format.COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in figures:
            unit, indicator = row["reporting_unit_code"], row["indicator_code"]
            if unit == left_out or (
                unit == withdrawing
                and row["program_code"] == "general"
                and indicator in HOUSEHOLDS_HELPED
            ):
                continue
            if indicator == "blood_units":
                row = {**row, "value": str(blood_units(row) + 100)}
            writer.writerow(row)
    return withdrawing, left_out


def blood_units(row: dict[str, str]) -> int:
    """A count as the generator writes it: 1085, or the Vietnamese way, 1.085."""
    return int(row["value"].replace(".", "").replace(" ", ""))


def batches(folder: Path) -> tuple[list[Path], list[Path], dict]:
    """Write both batches; return their paths and what the second one changes."""
    generated = generate.generate_national(
        folder / "generated", range(YEAR, YEAR + 1), seed=SEED, provinces=PROVINCES
    )
    # in the order they were sent; the second batch is what was sent once the last month's
    # reports began to arrive
    generated.sort(key=lambda path: (path.stat().st_mtime, path.name))
    last_month = max(period_of(p) for p in generated if "M" in period_of(p))
    cut = min(i for i, path in enumerate(generated) if period_of(path) == last_month)
    first, second = generated[:cut], generated[cut:]
    late = [p for p in second if "M" in period_of(p) and period_of(p) != last_month]
    assert any(p.stem.endswith("_v2") for p in late), "no resubmission of an old month"
    assert any(not p.stem.endswith("_v2") for p in late), "no late report of an old month"

    extra = folder / "extra"
    extra.mkdir()
    # Hải Châu reports houses built year to date; its March figure is corrected later
    first.append(
        write(
            extra / "48-492-2025YTD.csv",
            [
                HEADER,
                "492,Quận Hải Châu,2025YTD03,houses_built,10,,general,",
                "492,Quận Hải Châu,2025YTD06,houses_built,16,,general,",
            ],
        )
    )
    first.append(
        write(
            extra / "48-targets-2025.csv",
            [TARGET_HEADER, "48,Thành phố Đà Nẵng,2025,blood_units,30000,"],
        )
    )
    first.append(write(extra / NARRATIVE, [NARRATIVE_TEXT]))
    [original] = [p for p in generated if p.name == RESUBMITTED]
    withdrawing, left_out = resubmission(original, extra / "48-493-2025M03-sua.csv")
    [units] = [blood_units(r) for r in read_rows(original) if r["indicator_code"] == "blood_units"]
    second += [
        extra / "48-493-2025M03-sua.csv",
        write(
            extra / "48-492-2025YTD-sua.csv",
            [HEADER, "492,Quận Hải Châu,2025YTD03,houses_built,12,,general,"],
        ),
        write(
            extra / "48-targets-2025-sua.csv",
            [TARGET_HEADER, "48,Thành phố Đà Nẵng,2025,blood_units,35000,"],
        ),
    ]
    changed = {"withdrawing": withdrawing, "left_out": left_out, "units": units + 100}
    return first, second, {**changed, "month": last_month}


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
    return [name for (name,) in names if name not in BUILD_COLUMNS]


def load_all(paths: list[Path], url: str) -> None:
    results = load.ingest_paths(paths, url)
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
    load_all(first, url)
    dbt.run(["build", "--quiet"], url)
    versions = {
        fact: dict(rows(url, f"select figure_id, xmin::text from audit.{fact}")) for fact in FACTS
    }
    [(first_build,)] = rows(
        url, "select max(change_batch) from intermediate.int_submission_changes"
    )

    load_all(second, url)
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
    # the hand-made resubmission of March: the district's blood units corrected
    assert rows(
        url,
        "select value from audit.fct_blood_units where reporting_unit_code = '493'"
        " and period_code = '2025M03' and indicator_code = 'blood_units'",
    ) == [(changed["units"],)]
    # the withdrawn figures are gone from their fact, the ward's other figures stay
    march = " and period_code = '2025M03' and program_code = 'general'"
    assert rows(
        url,
        f"select count(*) from audit.fct_households_helped where reporting_unit_code = %s{march}",
        (changed["withdrawing"],),
    ) == [(0,)]
    [(aid, versions)] = rows(
        url,
        "select count(*), min(version_count) from audit.fct_aid_value"
        f" where reporting_unit_code = %s{march}",
        (changed["withdrawing"],),
    )
    assert aid > 0 and versions >= 2
    # the ward the resubmission left out keeps its figures
    assert rows(
        url,
        "select count(*) > 0 from audit.fct_households_helped"
        f" where reporting_unit_code = %s{march}",
        (changed["left_out"],),
    ) == [(True,)]
    # the new month is in, on today's map
    assert rows(
        url,
        "select count(*) > 0, bool_and(admin_unit_id like '%%@2025-07-01')"
        " from audit.fct_aid_value where period_code = %s",
        (changed["month"],),
    ) == [(True, True)]
    # the corrected March year-to-date figure changes the increment after it
    assert rows(
        url,
        "select source_period_code, value from intermediate.int_figure_increments"
        " where reporting_unit_code = '492' and indicator_code = 'houses_built'"
        " and program_code = 'general' order by end_date",
    ) == [("2025YTD03", 12), ("2025YTD06", 4)]
    # the new target, and the accepted narrative figures
    assert rows(
        url,
        "select distinct target from audit.mart_unit_scorecard where admin_unit_code = '48'"
        " and year = 2025 and indicator_code = 'blood_units'",
    ) == [(Decimal(35000),)]
    assert rows(
        url,
        "select indicator_code, value from audit.fct_aid_value where reporting_unit_code = '492'"
        " and period_code = '2025M06' and program_code = 'general' order by 1",
    ) == [("aid_value_vnd", 90_000_000), ("gift_packages", 300)]


def test_only_what_changed_is_rewritten(incremental):
    """A fact's rows are rewritten for the submissions the second batch touched, and only for
    them: the rest keep the row versions the first build wrote."""
    url, touched = incremental["url"], incremental["touched"]
    assert ("493", "2025M03", "blood_donation") in touched
    [(submissions,)] = rows(
        url,
        "select count(distinct (reporting_unit_code, period_code, program_code))"
        " from intermediate.int_submission_changes",
    )
    assert len(touched) < submissions / 3
    for fact, written in incremental["rewritten"].items():
        assert written, fact
        assert written <= touched, (fact, sorted(written - touched)[:5])


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


def test_a_build_tests_the_groups_it_changed_until_they_pass(incremental, tmp_path):
    """dbt's tests on an incremental model check the groups changed since its rows last
    passed: a new month is tested, not the history again; a failed test leaves its groups to be
    tested again; `test_whole_tables` tests every row."""
    url = incremental["url"]
    incremental_models = (
        "int_submission_changes",
        "int_figures_deduplicated",
        *FACTS,
        "fct_figure_revisions",
    )

    def tested(model: str) -> tuple[int, int]:
        [(changed_through, tested_through)] = rows(
            url,
            "select changed_through, tested_through from intermediate.incremental_progress"
            " where model_name = %s",
            (model,),
        )
        return changed_through, tested_through

    dbt.run(["build", "--quiet"], url)
    for model in incremental_models:
        changed_through, tested_through = tested(model)
        assert tested_through == changed_through > 0, model

    # Thanh Khê sends its March blood donation report again; the models are built, not tested
    load_all([write(tmp_path / "48-493-2025M03-lan3.csv", [HEADER, RESENT])], url)
    dbt.run(["run", "--quiet"], url)
    changed_through, tested_through = tested("fct_blood_units")
    assert changed_through > tested_through

    def duplicate(where: str) -> None:
        with psycopg.connect(url) as conn:
            conn.execute(
                "insert into audit.fct_blood_units select * from audit.fct_blood_units"
                f" where {where} order by figure_id limit 1"
            )

    def remove_duplicate(where: str) -> None:
        with psycopg.connect(url) as conn:
            conn.execute(
                "delete from audit.fct_blood_units where ctid in (select max(ctid)"
                f" from audit.fct_blood_units where {where} group by figure_id"
                " having count(*) > 1)"
            )

    report = "reporting_unit_code = '493' and program_code = 'blood_donation'"
    resent, untouched = (
        f"{report} and period_code = '2025M03'",
        f"{report} and period_code = '2025M02'",
    )
    duplicate(resent)
    duplicate(untouched)
    test = ["test", "--quiet", "--select", "fct_blood_units"]
    with pytest.raises(RuntimeError):  # the duplicate in the resent report is found
        dbt.run(test, url)
    assert tested("fct_blood_units") == (changed_through, tested_through)  # nothing recorded

    remove_duplicate(resent)
    dbt.run(test, url)  # the history's groups were tested before: not again
    assert tested("fct_blood_units") == (changed_through, changed_through)

    with pytest.raises(RuntimeError):  # every row: the duplicate in February is found
        dbt.run([*test, "--vars", "{test_whole_tables: true}"], url)
    remove_duplicate(untouched)
    dbt.run([*test, "--vars", "{test_whole_tables: true}"], url)

    # rebuilt whole: none of its rows counts as tested until its tests pass again
    dbt.run(["run", "--quiet", "--full-refresh", "--select", "fct_blood_units"], url)
    assert tested("fct_blood_units")[1] == 0
    dbt.run(test, url)
    changed_through, tested_through = tested("fct_blood_units")
    assert tested_through == changed_through > 0
