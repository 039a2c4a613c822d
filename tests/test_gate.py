"""The gate's rules on five years of Đà Nẵng's figures: warnings are recorded, not blocking."""

import json
from pathlib import Path

import psycopg
import pytest
from conftest import rows
from psycopg.rows import dict_row

from nhandao import dbt, settings, submission_format
from nhandao.gate import validate
from nhandao.ingest import load
from nhandao.sample import generate

HEADER = ",".join(submission_format.COLUMNS)


def named_rows(url: str, query: str) -> list[dict]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(query).fetchall()


def suite_query(table: str, words: str) -> str:
    suite = json.loads((settings.expectations_dir() / "suites" / f"marts.{table}.json").read_text())
    [query] = [
        e["kwargs"]["unexpected_rows_query"]
        for e in validate.resolve_table(suite, "audit", table)["expectations"]
        if words in e["meta"]["notes"]
    ]
    return query.replace("{batch}", f"audit.{table}")


@pytest.fixture(scope="module")
def gated(module_warehouse_url, manifest, tmp_path_factory):
    folder = tmp_path_factory.mktemp("danang")
    files = generate.generate_province("48", range(2019, 2024), folder, seed=9)
    odd = Path(folder) / "odd.csv"
    odd.write_text(
        "\n".join(
            [
                HEADER,
                # a resubmission with extra digits: far beyond the ward's earlier Septembers
                "20227,Phường Thanh Bình,2023M09,aid_value_vnd,990.000.000,,general,",
                # 1.000 đồng for 10 gift packages: the value or the count is mistyped
                "20230,Phường Thuận Phước,2023M09,gift_packages,10,,disaster_relief,",
                "20230,Phường Thuận Phước,2023M09,aid_value_vnd,1.000,,disaster_relief,",
            ]
        ),
        encoding="utf-8",
    )
    results = load.ingest_paths([*files, odd], module_warehouse_url)
    assert {r.status for r in results} == {"loaded"}
    dbt.run(["build", "--quiet"], module_warehouse_url)
    return module_warehouse_url, validate.run_gate(module_warehouse_url)


@pytest.mark.dbt
def test_warnings_are_recorded_and_do_not_block(gated):
    url, result = gated
    assert result.passed
    assert not result.blocking_failures
    warned = {(o.suite_name, (o.notes or "")[:30]) for o in result.warnings}
    assert ("marts.fct_aid_value", "A gift package is worth betwee") in warned
    recorded = rows(
        url,
        "select count(*) from monitoring.gate_results where gate_run_id = %s"
        " and severity = 'warning' and not success",
        (result.gate_run_id,),
    )
    assert recorded == [(len(result.warnings),)]


@pytest.mark.dbt
def test_the_per_package_rule_finds_the_mistyped_value(gated):
    url, result = gated
    flagged = named_rows(url, suite_query("fct_aid_value", "gift package is worth"))
    assert [(r["admin_unit_code"], r["period_code"]) for r in flagged] == [("20230", "2023M09")]
    [outcome] = [o for o in result.warnings if "gift package" in (o.notes or "")]
    assert outcome.observed_value == "1"


@pytest.mark.dbt
def test_the_history_rule_finds_the_extra_digit_but_not_the_tet_peak(gated):
    url, result = gated
    flagged = named_rows(
        url, suite_query("fct_aid_value", "same month of the unit's earlier years")
    )
    keys = {(r["admin_unit_code"], r["period_code"], r["program_code"]) for r in flagged}
    assert ("20227", "2023M09", "general") in keys
    # Tết months are compared with earlier Tết months: the peak itself is not an outlier
    tet = rows(url, "select count(*) from audit.fct_aid_value where program_code = 'tet'")[0][0]
    assert sum(1 for r in flagged if r["program_code"] == "tet") < tet * 0.02
    # judged year by year: the figures each year's slice flagged add up to the whole table's
    by_year = {
        o.year: int(o.observed_value)
        for o in result.outcomes
        if o.suite_name == "marts.fct_aid_value" and "earlier years" in (o.notes or "")
    }
    assert set(by_year) == set(range(2019, 2024))
    assert sum(by_year.values()) == len(flagged)
    assert by_year[2019] == 0  # no earlier years to compare with


def outcome_key(o: validate.ExpectationOutcome) -> tuple:
    return (
        o.suite_name,
        o.province_code,
        o.year,
        o.expectation_type,
        o.column,
        o.notes,
        o.success,
        o.observed_value,
    )


@pytest.mark.dbt
def test_a_slice_judged_before_is_taken_over_until_its_rows_or_suite_change(gated, tmp_path):
    url, first = gated
    assert first.slices and first.reused == 0
    assert {suite for suite, *_ in first.slices} == {
        "marts.fct_aid_value",
        "marts.fct_blood_units",
        "marts.fct_households_helped",
        "marts.mart_unit_scorecard",
    }

    # nothing changed: every slice keeps the first run's judgement, which is recorded again
    again = validate.run_gate(url)
    assert again.reused == len(again.slices) == len(first.slices)
    assert {run for *_, run in again.slices} == {first.gate_run_id}
    assert sorted(map(outcome_key, again.outcomes)) == sorted(map(outcome_key, first.outcomes))
    [(taken_over,)] = rows(
        url,
        "select count(*) from monitoring.gate_results where gate_run_id = %s and validated_in = %s",
        (again.gate_run_id, first.gate_run_id),
    )
    assert taken_over == sum(1 for o in again.outcomes if o.province_code) > 0
    # the run's report says which run judged each result
    assert first.gate_run_id in again.report_path.read_text(encoding="utf-8")

    # slices are a province's years: the five years of Đà Nẵng, for each suite
    assert {(p, year) for _, p, year, *_ in first.slices} == {
        ("48", year) for year in range(2019, 2024)
    }

    # one blood figure of 2021 changes, as a rebuild after a resubmission would change it:
    # that suite's slices of that year and the later ones (which the history rule compares
    # with it) are validated again; every other slice is taken over
    with psycopg.connect(url) as conn:
        [(province, year)] = conn.execute(
            "update audit.fct_blood_units set value = value + 1 where figure_id ="
            " (select min(figure_id) from audit.fct_blood_units where period_code like '2021%')"
            " returning current_province_code, left(period_code, 4)::int"
        ).fetchall()
    third = validate.run_gate(url)
    assert {(suite, p, y) for suite, p, y, _, run in third.slices if run is None} == {
        ("marts.fct_blood_units", province, later) for later in (2021, 2022, 2023)
    }
    assert {
        (o.year, o.validated_in)
        for o in third.outcomes
        if o.suite_name == "marts.fct_blood_units" and o.validated_in is None
    } == {(2021, None), (2022, None), (2023, None)}
    assert {o.validated_in for o in third.outcomes if o.year in (2019, 2020)} == {first.gate_run_id}

    # a changed suite is validated again on every slice
    suites = tmp_path / "suites"
    suites.mkdir()
    for path in (settings.expectations_dir() / "suites").glob("*.json"):
        suite = json.loads(path.read_text(encoding="utf-8"))
        if suite["name"] == "marts.fct_aid_value":
            suite["expectations"][0]["meta"]["notes"] += " (reworded)"
        (suites / path.name).write_text(json.dumps(suite), encoding="utf-8")
    fourth = validate.run_gate(url, suites_dir=suites)
    assert {suite for suite, *_, run in fourth.slices if run is None} == {"marts.fct_aid_value"}


@pytest.mark.dbt
def test_validations_shared_between_processes_judge_as_one_process_does(gated, monkeypatch):
    url, _ = gated
    monkeypatch.setattr(validate, "WORKER_START_ROWS", 0)  # share even this small warehouse

    def judged_afresh(workers: str) -> validate.GateResult:
        monkeypatch.setenv("NHANDAO_GATE_WORKERS", workers)
        with psycopg.connect(url) as conn:  # nothing to take over: every slice is validated
            conn.execute("delete from monitoring.gate_slices")
        return validate.run_gate(url)

    def judgement(result: validate.GateResult) -> set[tuple]:
        return {
            (
                o.suite_name,
                o.expectation_type,
                o.column,
                o.province_code,
                o.year,
                o.success,
                o.observed_value,
                o.unexpected_count,
            )
            for o in result.outcomes
        }

    alone, shared = judged_afresh("1"), judged_afresh("3")
    assert not alone.reused and not shared.reused
    assert len(shared.outcomes) == len(alone.outcomes) > 20
    assert judgement(shared) == judgement(alone)
    assert "marts.fct_aid_value" in {o.suite_name for o in shared.warnings}
    # the second and third workers' checkpoints were stored and run
    stored = {p.stem for p in (settings.home_dir() / "gx").rglob("publish_gate_*")}
    assert any(name.endswith("_2") for name in stored), stored


def test_the_largest_validations_are_spread_first_and_a_small_gate_is_not_shared():
    work = [(10, "a"), (900_000, "big"), (5, "b"), (800_000, "large")]
    assert validate._shares(work, 2, start_rows=0) == [["big"], ["large", "a", "b"]]
    # a worker that starts 300,000 rows behind: the big slice stays here, the large one goes
    assert validate._shares(work, 2, start_rows=300_000) == [["big", "a", "b"], ["large"]]
    # one that starts 1,200,000 rows behind (the default) takes only what it finishes first
    assert validate._shares(work, 2) == [["big", "large"], ["a", "b"]]
    assert validate._shares([(50_000, "a"), (40_000, "b")], 4) == [["a", "b"]]


def test_new_slices_are_added_to_the_gx_configuration_in_one_save(warehouse_url, tmp_path):
    """A thousand new slices are one write of GX's configuration, not one per asset."""
    context = validate._context(tmp_path)
    datasource = validate._datasource(context, warehouse_url)
    saves = []
    save = context._save_project_config
    context._save_project_config = lambda *args, **kwargs: saves.append(save(*args, **kwargs))
    by = validate.Slicing("current_province_code", "period_code")
    keys = [(f"{p:02d}", year) for p in range(1, 101) for year in range(2019, 2029)]
    queries = {
        validate._slice_asset_name(
            "audit", "fct_aid_value", key
        ): f"select 1 where {by.condition(*key)}"
        for key in keys
    }
    validate._add_slice_assets(context, datasource, queries)
    validate._add_slice_assets(context, datasource, queries)  # all known: nothing to save
    assert len(saves) == 1

    # a worker's own context loads every one, with its batch definition
    loaded = validate._datasource(validate._context(tmp_path), warehouse_url)
    assert set(loaded.get_asset_names()) == set(queries)
    asset = loaded.get_asset("audit.fct_aid_value@48@2026")
    assert asset.query == (
        "select 1 where current_province_code = '48'"
        " and period_code >= '2026' and period_code < '2027'"
    )
    assert asset.get_batch_definition("whole_table").id is not None
