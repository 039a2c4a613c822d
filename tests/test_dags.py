"""The real DAGs, run with dag.test() against a real Postgres, dbt and Great Expectations."""

import csv
import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from conftest import rows

from nhandao import generate, reference, settings
from nhandao.demo import run_dag, task_state
from nhandao.query import district_year_summary, vietnamese_number

FACTS = ("fct_aid_value", "fct_blood_units", "fct_households_helped")


def input_totals(folder: Path) -> dict[tuple[str, str, int], Decimal]:
    """Totals per (indicator, district, year), read straight from the CSV files."""
    units = reference.admin_units()
    totals: dict[tuple[str, str, int], Decimal] = defaultdict(Decimal)
    for path in sorted(folder.glob("*.csv")):
        with open(path, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                unit = units[row["reporting_unit_code"]]
                district = unit.code if unit.level == "district" else unit.parent_code
                year = int(row["period"][:4])
                totals[(row["indicator_code"], district, year)] += Decimal(row["value"])
    return dict(totals)


def mart_totals(url: str) -> dict[tuple[str, str, int], Decimal]:
    union = " union all ".join(f"select * from marts.{fact}" for fact in FACTS)
    result = rows(
        url,
        f"""
        select facts.indicator_code, units.district_code, periods.year, sum(facts.value)
        from ({union}) as facts
        join marts.dim_admin_unit as units using (admin_unit_code)
        join marts.dim_period as periods using (period_code)
        group by 1, 2, 3
        """,
    )
    return {(indicator, district, year): total for indicator, district, year, total in result}


def marts_contents(url: str) -> dict[str, list[tuple]]:
    """Every row of every published fact, in a stable order."""
    return {fact: rows(url, f"select * from marts.{fact} order by figure_id") for fact in FACTS}


def test_dagbag_has_the_pipeline(dags):
    assert set(dags) >= {"ingest_submissions", "build_warehouse"}
    ingest, build = dags["ingest_submissions"], dags["build_warehouse"]
    assert [o.name for o in ingest.get_task("load_files").outlets] == ["raw_submissions"]
    assert "raw_submissions" in str(build.timetable.asset_condition)
    assert build.get_task("publish_marts").upstream_task_ids == {"quality_gate"}
    model_tasks = {t for t in build.task_ids if t.startswith("dbt_build.")}
    assert {"dbt_build.fct_blood_units.run", "dbt_build.dim_admin_unit.run"} <= model_tasks
    for dag in (ingest, build):
        dag.check_cycle() if hasattr(dag, "check_cycle") else None
        assert dag.catchup is False


def test_ingest_build_publish_end_to_end(dags, warehouse_url):
    landing = settings.landing_dir()
    files = generate.generate_province("48", range(2023, 2024), landing, seed=11)
    ingest_run = run_dag(dags, "ingest_submissions")
    assert task_state(ingest_run, "load_files") == "success"
    assert rows(
        warehouse_url, "select count(*) from raw.submission_files where status = 'loaded'"
    ) == [(len(files),)]

    build_run = run_dag(dags, "build_warehouse")
    assert task_state(build_run, "publish_marts") == "success"

    expected = input_totals(landing)
    published = mart_totals(warehouse_url)
    assert published == expected
    assert sum(v for (ind, _, _), v in published.items() if ind == "blood_units") > 0
    [(success, results)] = rows(
        warehouse_url,
        "select runs.success, count(*) from monitoring.gate_runs as runs"
        " join monitoring.gate_results using (gate_run_id) group by runs.success",
    )
    assert success is True and results >= 10
    [(tables,)] = rows(warehouse_url, "select tables from monitoring.publications")
    assert set(FACTS) <= set(tables)

    # the demo's closing summary shows the same totals, in Vietnamese number format
    with psycopg.connect(warehouse_url) as conn:
        summary = district_year_summary(conn)
    blood = expected[("blood_units", "492", 2023)]
    assert re.search(rf"492 +Quận Hải Châu +2023 +{vietnamese_number(blood)} ", summary)

    # the same files again: nothing loads, the load task is skipped (no asset event)
    again = run_dag(dags, "ingest_submissions")
    assert task_state(again, "load_files") == "skipped"
    assert rows(warehouse_url, "select count(*) from raw.submission_files") == [(len(files),)]


def test_gate_failure_leaves_published_marts_unchanged(dags, warehouse_url):
    landing = settings.landing_dir()
    generate.generate_province("48", range(2022, 2023), landing, seed=3)
    run_dag(dags, "ingest_submissions")
    run_dag(dags, "build_warehouse")
    before = marts_contents(warehouse_url)
    assert all(before.values())

    negative = landing / "48-492-2023M01-correction.csv"
    negative.write_text(
        ",".join(generate.COLUMNS) + "\n"
        "492,Quận Hải Châu,2023M01,blood_units,-250,exact,blood_donation,sai dấu\n",
        encoding="utf-8",
    )
    run_dag(dags, "ingest_submissions")
    with pytest.raises(Exception, match="failed"):
        run_dag(dags, "build_warehouse")

    assert marts_contents(warehouse_url) == before
    assert rows(warehouse_url, "select min(value) from audit.fct_blood_units") == [(-250,)]
    failures = rows(
        warehouse_url,
        "select suite_name, column_name, severity, unexpected_count from monitoring.gate_results"
        " join monitoring.gate_runs using (gate_run_id)"
        " where not gate_runs.success and not gate_results.success",
    )
    assert failures == [("marts.fct_blood_units", "value", "critical", 1)]
    [(docs,)] = rows(
        warehouse_url, "select data_docs_path from monitoring.gate_runs where not success"
    )
    assert Path(docs).is_file()
    assert rows(warehouse_url, "select count(*) from monitoring.publications") == [(1,)]
