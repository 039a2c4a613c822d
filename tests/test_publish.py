"""Write–audit–publish per province: a blocking failure in one province holds back that
province only, and readers during a publication see the old marts or the new, never a mix."""

import csv
import threading
import time
import uuid

import psycopg
import pytest
from conftest import rows

from nhandao import dbt, pipeline, submission_format
from nhandao.access import roles
from nhandao.cli import main
from nhandao.gate import validate
from nhandao.ingest import load
from nhandao.publish import release
from nhandao.sample import generate

pytestmark = pytest.mark.dbt

HEADER = ",".join(submission_format.COLUMNS)
# Đà Nẵng (48) and Hậu Giang (93), one year each: two provinces, small enough to build quickly.
# Slices are today's provinces: Hậu Giang's figures belong to Cần Thơ (92) since July 2025.
PROVINCES = ("48", "93")

QUERY_PROVINCES = "select distinct current_province_code from marts.fct_blood_units"

# a reader's view of the marts: one statement, so one snapshot
READ_STATE = """
select
    (select count(*) from marts.fct_aid_value),
    (select coalesce(sum(total), 0) from marts.mart_unit_year_totals
     where indicator_code = 'aid_value_vnd')
"""


def province_rows(url: str, province: str) -> list[tuple]:
    return rows(
        url,
        "select figure_id, value, qualifier, loaded_at from marts.fct_blood_units"
        " where current_province_code = %s order by figure_id",
        (province,),
    )


def build_gate_publish(url: str) -> tuple[validate.GateResult, release.Publication]:
    dbt.run(["build", "--quiet"], url)
    result = validate.enforce(validate.run_gate(url))
    with psycopg.connect(url) as conn:
        return result, release.publish(conn, dbt.published_slices(), result.gate_run_id)


@pytest.fixture(scope="module")
def published(module_warehouse_url, manifest, tmp_path_factory):
    folder = tmp_path_factory.mktemp("two_provinces")
    files = [
        path
        for province in PROVINCES
        for path in generate.generate_province(province, range(2023, 2024), folder, seed=4)
    ]
    assert {r.status for r in load.ingest_paths(files, module_warehouse_url)} == {"loaded"}
    result, publication = build_gate_publish(module_warehouse_url)
    assert result.passed
    return module_warehouse_url, folder, publication


def a_district_file(folder, province: str) -> dict[str, str]:
    """One row of a May blood-donation file of a district of `province`, as generated."""
    for path in sorted(folder.glob(f"{province}-*-2023M05.csv")):
        with open(path, encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["program_code"] == "blood_donation":
                    return row
    raise AssertionError(f"no blood-donation file for {province}")


def land_one_aid_figure(url: str, folder, tmp_path, period: str, value: str) -> None:
    """Land and load a file of one Đà Nẵng district's aid value for `period`."""
    row = a_district_file(folder, "48")
    path = tmp_path / f"48-{period}.csv"
    path.write_text(
        f"{HEADER}\n{row['reporting_unit_code']},,{period},aid_value_vnd,{value},,general,\n",
        encoding="utf-8",
    )
    assert load.ingest_paths([path], url)[0].status == "loaded"


def test_both_provinces_are_published_and_recorded(published):
    url, _, publication = published
    assert publication.provinces_published == ["48", "92"]
    assert publication.provinces_held_back == []
    counts = dict(
        rows(url, "select current_province_code, count(*) from marts.fct_blood_units group by 1")
    )
    assert set(counts) == {"48", "92"} and min(counts.values()) > 0
    assert rows(
        url,
        "select provinces_published, provinces_held_back from monitoring.publications"
        " order by publication_id desc limit 1",
    ) == [(["48", "92"], [])]


def test_a_blocking_failure_holds_back_its_province_only(published, tmp_path, capsys):
    url, folder, _ = published
    can_tho_before = province_rows(url, "92")
    da_nang_before = province_rows(url, "48")

    # Hậu Giang resubmits a district's May with 5,000 blood units from one drive (blocking);
    # Đà Nẵng resubmits one of its own with a corrected donor count (fine)
    bad = a_district_file(folder, "93")
    good = a_district_file(folder, "48")
    (tmp_path / "93-resubmission.csv").write_text(
        "\n".join(
            [
                HEADER,
                f"{bad['reporting_unit_code']},,2023M05,blood_drives,1,,blood_donation,",
                f"{bad['reporting_unit_code']},,2023M05,blood_units,5.000,,blood_donation,",
            ]
        ),
        encoding="utf-8",
    )
    (tmp_path / "48-resubmission.csv").write_text(
        "\n".join(
            [
                HEADER,
                f"{good['reporting_unit_code']},,2023M05,blood_drives,3,,blood_donation,",
                f"{good['reporting_unit_code']},,2023M05,blood_units,1.234,,blood_donation,",
            ]
        ),
        encoding="utf-8",
    )
    loaded = load.ingest_paths(sorted(tmp_path.glob("*.csv")), url)
    assert {r.status for r in loaded} == {"loaded"}

    result, publication = build_gate_publish(url)

    assert not result.passed and result.can_publish
    assert result.held_back_provinces == ["92"]
    assert publication.provinces_published == ["48"]
    assert publication.provinces_held_back == ["92"]
    [failure] = result.blocking_failures
    assert failure.province_code == "92" and "1,500" in failure.notes
    # the quality_gate task's log: the verdict per province, the rule that held one back
    verdict = pipeline.verdict_lines(result)
    assert ": 1 province(s) pass, 1 held back" in verdict[0]
    assert "  48 Thành phố Đà Nẵng: passes" in verdict
    held = verdict.index(next(line for line in verdict if line.startswith("  92 ")))
    assert verdict[held].endswith(": HELD BACK")
    assert verdict[held + 1].startswith("    blocks: [92")
    assert "marts.fct_blood_units" in verdict[held + 1] and "1,500" in verdict[held + 1]
    # Cần Thơ keeps its last good figures, row for row; Đà Nẵng has its correction
    assert province_rows(url, "92") == can_tho_before
    assert province_rows(url, "48") != da_nang_before
    assert rows(
        url,
        "select value from marts.fct_blood_units where reporting_unit_code = %s"
        " and period_code = '2023M05' and indicator_code = 'blood_units'",
        (good["reporting_unit_code"],),
    ) == [(1234,)]
    # the audit build does hold the bad figure: it was held back, not lost
    assert rows(url, "select max(value) from audit.fct_blood_units")[0][0] == 5000

    # the run is recorded slice by slice, and its HTML report says who was held back and why
    assert rows(
        url,
        "select provinces_checked, provinces_held_back, global_failure from monitoring.gate_runs"
        " where gate_run_id = %s",
        (result.gate_run_id,),
    ) == [(["48", "92"], ["92"], False)]
    assert rows(
        url,
        "select province_code, suite_name from monitoring.gate_results"
        " where gate_run_id = %s and not success and severity = 'critical'",
        (result.gate_run_id,),
    ) == [("92", "marts.fct_blood_units")]
    report = result.report_path.read_text(encoding="utf-8")
    assert "Thành phố Cần Thơ" in report and "held back" in report and "1,500" in report
    assert "http://" not in report and "https://" not in report  # reads offline

    # provincial IT sees it at a glance: `nhandao status` and the status page
    assert main(["status"]) == 0
    status = capsys.readouterr().out
    table = {line[:2]: line for line in reversed(status.splitlines()) if line[:2] in ("48", "92")}
    assert "HELD BACK" in table["92"] and "passed" in table["48"]
    assert "92 Thành phố Cần Thơ: held back since" in status
    assert "at most 1,500 units" in status
    assert main(["report", "--out", str(tmp_path / "status")]) == 0
    page = (tmp_path / "status" / "index.html").read_text(encoding="utf-8")
    assert "giữ lại / held back" in page and "at most 1,500 units" in page
    assert (tmp_path / "status" / "gate" / result.report_path.name).is_file()


def test_a_reader_during_publication_sees_old_or_new_never_a_mix(published, tmp_path):
    url, folder, _ = published
    land_one_aid_figure(url, folder, tmp_path, "2024M01", "123.456.000")
    dbt.run(["build", "--quiet"], url)
    result = validate.run_gate(url)
    before = rows(url, READ_STATE)[0]

    seen, errors, stop = set(), [], threading.Event()

    def read_until_stopped():
        with psycopg.connect(url, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    seen.add(conn.execute(READ_STATE).fetchone())
                except psycopg.Error as exc:  # a reader must never fail during a swap
                    errors.append(exc)

    reader = threading.Thread(target=read_until_stopped)
    reader.start()
    try:
        time.sleep(0.3)
        with psycopg.connect(url) as conn:
            release.publish(conn, dbt.published_slices(), result.gate_run_id)
        time.sleep(0.3)
    finally:
        stop.set()
        reader.join()

    after = rows(url, READ_STATE)[0]
    assert after[0] == before[0] + 1
    assert after[1] == before[1] + 123_456_000
    assert errors == []
    assert seen == {before, after}  # both states seen, and nothing in between


def test_a_publication_rewrites_only_the_years_that_changed(published, tmp_path):
    """A new month rewrites its year's rows; the marts still equal the audit build, row for
    row, as a publication that replaced everything would leave them."""
    url, folder, _ = published
    sliced = {table: column for table, column in dbt.published_slices().items() if column}
    land_one_aid_figure(url, folder, tmp_path, "2024M02", "98.765.000")
    # a year of a table without rules that is gone from the build goes from the marts too
    dbt.run(["build", "--quiet"], url)
    with psycopg.connect(url) as conn:
        gone = conn.execute(
            "delete from audit.mart_reporting_completeness"
            " where current_province_code = '48' and period_code like '2023%'"
        ).rowcount
    assert gone > 0
    result = validate.enforce(validate.run_gate(url))
    history = "select xmin::text from marts.fct_aid_value where period_code < '2024' order by 1"
    untouched = rows(url, history)
    with psycopg.connect(url) as conn:
        publication = release.publish(conn, dbt.published_slices(), result.gate_run_id)

    # Cần Thơ is still held back (its bad May is in the build): Đà Nẵng is published, and
    # its 2023 rows were not rewritten
    assert publication.provinces_published == ["48"]
    assert rows(url, history) == untouched
    [(in_2024,)] = rows(
        url,
        "select count(*) from audit.fct_aid_value"
        " where current_province_code = '48' and left(period_code, 4) = '2024'",
    )
    assert publication.row_counts["fct_aid_value"] == in_2024 == 2
    for table, column in sliced.items():
        for one, other in (("audit", "marts"), ("marts", "audit")):
            difference = rows(
                url,
                f"select count(*) from (select * from {one}.{table} where {column} = '48'"
                f" except all select * from {other}.{table}) as rows_not_in_{other}",
            )
            assert difference == [(0,)], (table, one, other)
    assert rows(
        url,
        "select count(*) from marts.mart_reporting_completeness"
        " where current_province_code = '48' and left(period_code, 4) = '2023'",
    ) == [(0,)]
    # the fingerprints kept are those of what is published now
    assert rows(
        url,
        "select year from monitoring.published_parts where table_name = 'fct_aid_value'"
        " and province_code = '48' order by year",
    ) == [(2023,), (2024,)]


def test_a_province_analyst_queries_their_province_only(published, capsys):
    url, _, _ = published
    login = f"analyst_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        roles.grant_analyst(conn, login, ["48"])
    try:
        assert main(["query", "--login", login, "--csv", QUERY_PROVINCES]) == 0
        assert capsys.readouterr().out.split() == ["current_province_code", "48"]
        assert main(["query", "--login", login, "select count(*) from raw.submission_rows"]) == 1
        assert "permission denied" in capsys.readouterr().err
        # nhandao query's own login sees every province
        every = [code for (code,) in rows(url, QUERY_PROVINCES + " order by 1")]
        assert main(["query", "--csv", QUERY_PROVINCES + " order by 1"]) == 0
        assert capsys.readouterr().out.split() == ["current_province_code", *every]
        assert len(every) > 1
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            roles.revoke_analyst(conn, login)


def test_the_gate_runs_again_when_a_province_is_gone(published):
    """The checkpoint stored by the last run names Cần Thơ's slices; a warehouse without Cần Thơ
    must still be gated (the stored checkpoint must load again)."""
    url, _, _ = published
    slices = {table: column for table, column in dbt.published_slices().items() if column}
    with psycopg.connect(url) as conn:
        for table, column in slices.items():
            for schema in ("audit", "marts"):
                conn.execute(f"delete from {schema}.{table} where {column} = '92'")
    result = validate.run_gate(url)
    assert result.provinces == ["48"]
    assert result.can_publish
