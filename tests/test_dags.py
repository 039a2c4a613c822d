"""The real DAGs, run with dag.test() against a real Postgres, dbt and Great Expectations."""

import csv
import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from conftest import rows

from nhandao import dbt, logins, pipeline, reference, settings, submission_format, warehouse
from nhandao.access.query import district_year_summary, vietnamese_number
from nhandao.sample import generate
from nhandao.sample.demo import run_dag, task_state

pytestmark = pytest.mark.dbt

FACTS = ("fct_aid_value", "fct_blood_units", "fct_households_helped")


def input_totals(files: list[Path]) -> dict[tuple[str, str, int], Decimal]:
    """Totals per (indicator, district, year), read straight from the CSV files."""
    units = reference.admin_units()
    totals: dict[tuple[str, str, int], Decimal] = defaultdict(Decimal)
    for path in files:
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
        join marts.dim_admin_unit as units using (admin_unit_id)
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
    # one task per model runs it and its tests (`dbt build`); a test of two models (a
    # relationship) is a task of its own after both, and the on-run-end hook is no task
    fact_task, dim_task = (
        "dbt_build.fct_blood_units_model_build",
        "dbt_build.dim_admin_unit_model_build",
    )
    assert {fact_task, dim_task} <= model_tasks
    relationship = next(
        t
        for t in model_tasks
        if t.startswith("dbt_build.relationships_fct_blood_units_admin_unit_id")
    )
    assert build.get_task(relationship).upstream_task_ids >= {fact_task, dim_task}
    assert not [t for t in model_tasks if "operation" in t or "on_run_end" in t]
    assert len(model_tasks) < 60
    # incremental by default; a run triggered with {"full_refresh": true} rebuilds everything
    assert build.params["full_refresh"] is False
    fact = build.get_task(fact_task)
    assert fact.add_cmd_flags() == []
    fact.render_template_fields({"params": {"full_refresh": True}})
    assert fact.add_cmd_flags() == ["--full-refresh"]
    for dag in (ingest, build):
        assert dag.catchup is False


def test_ingest_build_publish_end_to_end(dags, warehouse_url):
    landing = settings.landing_dir()
    files = generate.generate_province("48", range(2023, 2024), landing, seed=11)
    expected = input_totals(files)
    ingest_run = run_dag(dags, "ingest_submissions")
    assert task_state(ingest_run, "load_files") == "success"
    assert rows(
        warehouse_url, "select count(*) from raw.submission_files where status = 'loaded'"
    ) == [(len(files),)]
    # every file moved out of the landing folder into processed/, named <file_id>-<name>
    assert not list(landing.glob("*.csv"))
    assert len(list((landing / "processed").glob("*-48-*.csv"))) == len(files)

    build_run = run_dag(dags, "build_warehouse")
    assert task_state(build_run, "publish_marts") == "success"

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

    # no superuser at run time: each step logged in as its own role
    assert rows(warehouse_url, "select distinct loaded_by from raw.submission_files") == [
        ("nhandao_loader",)
    ]
    assert rows(
        warehouse_url,
        "select (select distinct run_by from monitoring.gate_runs),"
        " (select distinct published_by from monitoring.publications),"
        " (select array_agg(distinct tableowner) from pg_tables"
        "  where schemaname in ('audit', 'marts')),"
        " (select bool_or(rolsuper) from pg_roles where rolname like 'nhandao\\_%%')",
    ) == [("nhandao_transformer", "nhandao_transformer", ["nhandao_transformer"], False)]

    # the demo's closing summary shows the same totals, in Vietnamese number format
    with psycopg.connect(warehouse_url) as conn:
        summary = district_year_summary(conn)
    blood = expected[("blood_units", "492", 2023)]
    assert re.search(rf"492 +Quận Hải Châu +2023 +{vietnamese_number(blood)} ", summary)

    # the same files again: nothing loads, the load task is skipped (no asset event)
    generate.generate_province("48", range(2023, 2024), landing, seed=11)
    again = run_dag(dags, "ingest_submissions")
    assert task_state(again, "load_files") == "skipped"
    assert rows(warehouse_url, "select count(*) from raw.submission_files") == [(len(files),)]


def load_build_gate_publish() -> None:
    """What the two DAGs' tasks do, called directly: load as the loader; build (incremental),
    gate and publish as the transformer."""
    pipeline.load_files(pipeline.find_new_files())
    dbt.run(["build", "--quiet"], warehouse.runtime_url(logins.TRANSFORMER))
    pipeline.publish_audit(pipeline.validate_audit())


def test_gate_failure_keeps_marts_then_a_resubmission_publishes(dags, warehouse_url):
    landing = settings.landing_dir()
    generate.generate_province("48", range(2022, 2023), landing, seed=3)
    # publications by the functions the DAGs' tasks call (test_ingest_build_publish_end_to_end
    # runs the DAGs to a publication); the build that fails is the DAG's own
    load_build_gate_publish()
    before = marts_contents(warehouse_url)
    assert all(before.values())
    [(original_units,)] = rows(
        warehouse_url,
        "select value from marts.fct_blood_units where admin_unit_code = '492'"
        " and period_code = '2022M01' and indicator_code = 'blood_units'",
    )

    # a resubmission with an extra digit: 50.000 units from 2 drives breaks a blocking rule
    header = ",".join(submission_format.COLUMNS)
    typo = landing / "48-492-2022M01-blood.csv"
    typo.write_text(
        f"{header}\n492,Quận Hải Châu,2022M01,blood_drives,2,,blood_donation,\n"
        "492,Quận Hải Châu,2022M01,blood_units,50.000,,blood_donation,\n",
        encoding="utf-8",
    )
    run_dag(dags, "ingest_submissions")
    with pytest.raises(Exception, match="failed"):
        run_dag(dags, "build_warehouse")

    assert marts_contents(warehouse_url) == before
    assert rows(
        warehouse_url,
        "select value from audit.fct_blood_units where"
        " admin_unit_code = '492' and period_code = '2022M01'"
        " and indicator_code = 'blood_units'",
    ) == [(50000,)]
    failures = rows(
        warehouse_url,
        "select suite_name, expectation_type, severity from monitoring.gate_results"
        " join monitoring.gate_runs using (gate_run_id)"
        " where not gate_runs.success and not gate_results.success",
    )
    assert failures == [("marts.fct_blood_units", "unexpected_rows_expectation", "critical")]
    [(docs,)] = rows(
        warehouse_url, "select data_docs_path from monitoring.gate_runs where not success"
    )
    assert Path(docs).is_file()
    assert rows(warehouse_url, "select count(*) from monitoring.publications") == [(1,)]

    # the district corrects it: the latest version wins, every version stays in raw
    typo.write_text(
        f"{header}\n492,Quận Hải Châu,2022M01,blood_drives,2,,blood_donation,\n"
        "492,Quận Hải Châu,2022M01,blood_units,500,,blood_donation,\n",
        encoding="utf-8",
    )
    load_build_gate_publish()
    published = rows(
        warehouse_url,
        "select indicator_code, value, version_count from marts.fct_blood_units"
        " where admin_unit_code = '492' and period_code = '2022M01' order by indicator_code",
    )
    assert published == [("blood_drives", 2, 3), ("blood_units", 500, 3)]  # donors withdrawn
    revisions = rows(
        warehouse_url,
        "select version_number, indicator_code, change_type, old_value, new_value"
        " from marts.fct_figure_revisions order by version_number, indicator_code",
    )
    assert ("2", "blood_units", "changed", original_units, 50000) in [
        (str(v), i, c, o, n) for v, i, c, o, n in revisions
    ]
    assert (3, "blood_units", "changed", 50000, 500) in revisions
    assert any(r[1:3] == ("blood_donors", "withdrawn") for r in revisions)
    assert rows(
        warehouse_url,
        "select count(*) from raw.submission_rows r join"
        " raw.submission_files f using (file_id) where f.file_name like '%%-blood.csv'"
        " and r.indicator_code = 'blood_units'",
    ) == [(2,)]
