"""A district resends its month, as districts do: a row error never withdraws a published
figure; only a file that loads whole withdraws what it leaves out. Loaded with `nhandao ingest`,
built, gated and published for real; what is published is compared by content."""

import csv

import psycopg
import pytest
from conftest import rows

from nhandao import dbt, logins, submission_format, warehouse
from nhandao.cli import main
from nhandao.gate import validate
from nhandao.publish import release

HEADER = ",".join(submission_format.COLUMNS)
FACTS = ("fct_aid_value", "fct_blood_units", "fct_households_helped")

VERSION_1 = """\
492,,2024M03,blood_units,120,,blood_donation,
492,,2024M03,blood_drives,3,,blood_donation,
20242,,2024M03,gift_packages,200,,general,
20242,,2024M03,aid_value_vnd,50000000,,general,
20242,,2024M03,households_supported,5,,general,
20245,,2024M03,gift_packages,150,,general,
"""
# a row rejected (a negative count), two corrections, the aid value left out; 20245 not resent
VERSION_2 = """\
492,,2024M03,blood_units,-25,,blood_donation,
492,,2024M03,blood_drives,4,,blood_donation,
20242,,2024M03,gift_packages,210,,general,
20242,,2024M03,households_supported,5,,general,
"""
# loads whole: the blood units corrected, the aid value left out again
VERSION_3 = """\
492,,2024M03,blood_units,125,,blood_donation,
492,,2024M03,blood_drives,4,,blood_donation,
20242,,2024M03,gift_packages,210,,general,
20242,,2024M03,households_supported,5,,general,
"""
# the figures version 2 must leave exactly as they were published: kept, and not resent
UNTOUCHED = (
    ("492", "blood_units"),
    ("20242", "aid_value_vnd"),
    ("20245", "gift_packages"),
)

PUBLISHED_SQL = " union all ".join(
    f"select admin_unit_code, indicator_code, value from marts.{fact} where period_code = '2024M03'"
    for fact in FACTS
)


def content_hash(url: str, figures: tuple[tuple[str, str], ...]) -> str:
    """An md5 of the published rows of `figures`: every column that says what the figure is
    and where it came from (not version_count, which grows with every version)."""
    columns = (
        "figure_id, admin_unit_id, admin_unit_code, current_admin_unit_id, current_province_code,"
        " period_code, program_code, indicator_code, value, qualifier, submission_file_id,"
        " source_row_number, loaded_at, version_number"
    )
    union = " union all ".join(f"select {columns} from marts.{fact}" for fact in FACTS)
    keys = ", ".join(f"('{unit}', '{indicator}')" for unit, indicator in figures)
    [(found, digest)] = rows(
        url,
        f"select count(*), md5(string_agg(facts::text, ',' order by figure_id))"
        f" from ({union}) as facts where (admin_unit_code, indicator_code) in ({keys})",
    )
    assert found == len(figures)
    return digest


def published(url: str) -> dict[tuple[str, str], int]:
    return {(unit, indicator): int(value) for unit, indicator, value in rows(url, PUBLISHED_SQL)}


def build_gate_publish(url: str) -> None:
    """Build, gate and publish as the DAGs do: logged in as the transformer."""
    url = warehouse.runtime_url(logins.TRANSFORMER)
    dbt.run(["build", "--quiet"], url)
    result = validate.enforce(validate.run_gate(url))
    with psycopg.connect(url) as conn:
        publication = release.publish(conn, dbt.published_slices(), result.gate_run_id)
    assert publication.provinces_held_back == []


def land(folder, name: str, body: str):
    path = folder / name
    path.write_text(f"{HEADER}\n{body}", encoding="utf-8")
    return path


def file_id(url: str, name: str) -> int:
    return rows(url, "select file_id from raw.submission_files where file_name = %s", (name,))[0][0]


@pytest.fixture(scope="module")
def first_version(module_warehouse_url, manifest, tmp_path_factory):
    folder = tmp_path_factory.mktemp("resubmission")
    assert main(["ingest", str(land(folder, "48-492-2024M03.csv", VERSION_1))]) == 0
    build_gate_publish(module_warehouse_url)
    return module_warehouse_url, folder


@pytest.mark.dbt
def test_a_resubmission_with_a_rejected_row_withdraws_nothing(first_version, capsys):
    url, folder = first_version
    assert published(url) == {
        ("492", "blood_units"): 120,
        ("492", "blood_drives"): 3,
        ("20242", "gift_packages"): 200,
        ("20242", "aid_value_vnd"): 50_000_000,
        ("20242", "households_supported"): 5,
        ("20245", "gift_packages"): 150,
    }
    untouched_before = content_hash(url, UNTOUCHED)
    first = file_id(url, "48-492-2024M03.csv")
    capsys.readouterr()

    resent = land(folder, "48-492-2024M03_v2.csv", VERSION_2)
    assert main(["ingest", str(resent)]) == 0  # loaded, one row rejected
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        "loaded    48-492-2024M03_v2.csv: 3 rows, 1 row(s) rejected; new version of 2 reports:"
        f" 2 figures changed, 2 figures kept from file {first} (version 1) until a valid value"
        " arrives"
    )
    assert out[1:] == [
        f"          kept: 20242 2024M03 general aid_value_vnd = 50000000"
        f" (file {first} 48-492-2024M03.csv, version 1)",
        f"          kept: 492 2024M03 blood_donation blood_units = 120"
        f" (file {first} 48-492-2024M03.csv, version 1)",
        f"          report: {folder / '48-492-2024M03_v2.csv.rejections.csv'}",
        f"          report: {folder / '48-492-2024M03_v2.csv.rejections.html'}",
        "1 loaded, 0 skipped, 0 rejected file(s); 3 rows loaded, 1 rows rejected",
    ]

    # the report beside the file says what was kept, and why
    page = (folder / "48-492-2024M03_v2.csv.rejections.html").read_text(encoding="utf-8")
    assert "2 figures kept from earlier versions" in page
    assert "A resubmission with rejected rows withdraws nothing" in page
    assert "<td>aid_value_vnd</td><td>50000000</td>" in page
    with open(folder / "48-492-2024M03_v2.csv.rejections.csv", encoding="utf-8-sig") as f:
        report = list(csv.DictReader(f))
    assert [(r["row"], r["reason_code"]) for r in report] == [
        ("2", "negative_value"),
        ("", "kept_from_earlier_version"),
        ("", "kept_from_earlier_version"),
    ]
    assert report[2]["message_en"] == (
        "Figure 492 2024M03 blood_donation blood_units = 120 is kept from version 1"
        f" (48-492-2024M03.csv, file {first}) until a valid value arrives"
    )

    build_gate_publish(url)
    assert published(url) == {
        ("492", "blood_units"): 120,  # the rejected row's figure: unchanged
        ("492", "blood_drives"): 4,  # corrected
        ("20242", "gift_packages"): 210,  # corrected
        ("20242", "aid_value_vnd"): 50_000_000,  # left out of a file with a rejected row: kept
        ("20242", "households_supported"): 5,
        ("20245", "gift_packages"): 150,  # another ward's report, not resent
    }
    assert content_hash(url, UNTOUCHED) == untouched_before
    second = file_id(url, "48-492-2024M03_v2.csv")
    assert rows(
        url,
        "select reporting_unit_code, indicator_code, change_type, kept_from_version,"
        " kept_from_file_id, old_value::int, new_value::int from marts.fct_figure_revisions"
        " where submission_file_id = %s order by 1, 2",
        (second,),
    ) == [
        ("20242", "aid_value_vnd", "kept", 1, first, 50_000_000, 50_000_000),
        ("20242", "gift_packages", "changed", None, None, 200, 210),
        ("492", "blood_drives", "changed", None, None, 3, 4),
        ("492", "blood_units", "kept", 1, first, 120, 120),
    ]

    # provincial IT sees it in `nhandao status`
    assert main(["status"]) == 0
    status = capsys.readouterr().out
    assert (
        f"48 file {second} 48-492-2024M03_v2.csv (1 row(s) rejected): 2 figures changed,"
        f" 2 kept from version 1 (file {first})"
    ) in status


@pytest.mark.dbt
def test_a_resubmission_that_loads_whole_withdraws_what_it_leaves_out(first_version, capsys):
    url, folder = first_version
    capsys.readouterr()
    resent = land(folder, "48-492-2024M03_v3.csv", VERSION_3)
    assert main(["ingest", str(resent)]) == 0
    first = file_id(url, "48-492-2024M03.csv")
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "loaded    48-492-2024M03_v3.csv: 4 rows; new version of 2 reports: 1 figure changed,"
        " 1 figure withdrawn (left out of this version)",
        f"          withdrawn: 20242 2024M03 general aid_value_vnd = 50000000"
        f" (file {first} 48-492-2024M03.csv, version 1)",
        "1 loaded, 0 skipped, 0 rejected file(s); 4 rows loaded, 0 rows rejected",
    ]
    build_gate_publish(url)
    assert published(url) == {
        ("492", "blood_units"): 125,
        ("492", "blood_drives"): 4,
        ("20242", "gift_packages"): 210,
        ("20242", "households_supported"): 5,
        ("20245", "gift_packages"): 150,
    }
    third = file_id(url, "48-492-2024M03_v3.csv")
    assert rows(
        url,
        "select reporting_unit_code, indicator_code, change_type, old_value::int,"
        " new_value::int from marts.fct_figure_revisions where submission_file_id = %s"
        " order by 1, 2",
        (third,),
    ) == [
        ("20242", "aid_value_vnd", "withdrawn", 50_000_000, None),
        ("492", "blood_units", "changed", 120, 125),
    ]
    assert main(["status"]) == 0
    assert f"48 file {third} 48-492-2024M03_v3.csv: 1 figure changed, 1 withdrawn" in (
        capsys.readouterr().out
    )


@pytest.mark.dbt
def test_the_incremental_build_equals_a_full_refresh(first_version):
    """The builds above were incremental; rebuilt from raw, the same rows come out."""
    url, _ = first_version
    tables = (*FACTS, "fct_figure_revisions")

    def audit_contents() -> dict[str, list[tuple]]:
        return {table: rows(url, f"select * from audit.{table} order by 1") for table in tables}

    incremental = audit_contents()
    assert incremental["fct_figure_revisions"]  # the three versions above were built
    dbt.run(["build", "--full-refresh", "--quiet"], warehouse.runtime_url(logins.TRANSFORMER))
    assert audit_contents() == incremental


def test_files_loaded_before_the_reports_were_recorded_get_them(warehouse_url, tmp_path):
    """An upgraded warehouse: files loaded by an earlier nhandao have no unit_periods until the
    admin's bootstrap fills them in from their rows, so their resubmissions are recognised."""
    from nhandao.ingest import load

    path = land(tmp_path, "48-492-2024M03.csv", VERSION_1)
    assert load.ingest_paths([path], warehouse_url)[0].status == "loaded"
    recorded = rows(warehouse_url, "select unit_periods from raw.submission_files")
    assert recorded == [(["20242|2024M03", "20245|2024M03", "492|2024M03"],)]
    with psycopg.connect(warehouse_url) as conn:
        conn.execute("update raw.submission_files set unit_periods = null")
    with warehouse.connect(warehouse_url) as conn:
        warehouse.bootstrap(conn)
    assert rows(warehouse_url, "select unit_periods from raw.submission_files") == recorded
    [resent] = load.ingest_paths([land(tmp_path, "48-492-2024M03_v2.csv", VERSION_2)])
    assert "2 figures kept from file" in resent.line()
