"""The nhandao command as a user runs it: exit codes and printed output."""

from pathlib import Path

import psycopg
from conftest import rows

from nhandao import logins, submission_format
from nhandao.access import roles
from nhandao.cli import main


def test_generate_ingest_and_query(warehouse_url, tmp_path, capsys):
    assert (
        main(
            [
                "generate",
                "--province",
                "48",
                "--years",
                "2024",
                "--out",
                str(tmp_path / "in"),
                "--seed",
                "2",
            ]
        )
        == 0
    )
    assert "wrote 84 files" in capsys.readouterr().out
    files = sorted((tmp_path / "in").glob("48-492-*.csv"))[:2]

    assert main(["ingest", *map(str, files)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[:-1]] == ["loaded", "loaded"]
    rows_loaded = sum(len(f.read_text(encoding="utf-8").splitlines()) - 1 for f in files)
    assert out[-1] == (
        f"2 loaded, 0 skipped, 0 rejected file(s); {rows_loaded} rows loaded, 0 rows rejected"
    )
    assert main(["ingest", str(files[0])]) == 0
    assert capsys.readouterr().out.startswith("skipped")

    expected = [len(f.read_text(encoding="utf-8").splitlines()) - 1 for f in files]
    assert rows(
        warehouse_url, "select file_name, row_count from raw.submission_files order by file_id"
    ) == [(f.name, n) for f, n in zip(files, expected, strict=True)]

    # queries read the marts only (here a table the transformer publishes), as CSV or a table
    with psycopg.connect(logins.role_url(warehouse_url, roles.TRANSFORMER)) as conn:
        conn.execute("create table marts.files as select * from raw.submission_files")
    assert (
        main(["query", "--csv", "select file_name, row_count from marts.files order by file_id"])
        == 0
    )
    csv_lines = capsys.readouterr().out.splitlines()
    assert csv_lines == ["file_name,row_count"] + [
        f"{f.name},{n}" for f, n in zip(files, expected, strict=True)
    ]
    assert main(["query", "select sum(row_count) as n from marts.files"]) == 0
    table = capsys.readouterr().out
    assert str(sum(expected)) in table and "(1 rows)" in table


def test_ingest_exits_non_zero_on_a_rejected_file(warehouse_url, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("unit,value\n492,5\n", encoding="utf-8")
    assert main(["ingest", str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("rejected  bad.csv")
    reports = [line.split("report: ")[1] for line in out if "report: " in line]
    assert reports and all(Path(report).is_file() for report in reports)
    assert out[-1] == "0 loaded, 0 skipped, 1 rejected file(s); 0 rows loaded, 0 rows rejected"
    assert main(["ingest", str(tmp_path / "missing.csv")]) == 2


def test_queries_cannot_write(warehouse_url, capsys):
    assert main(["query", "delete from raw.submission_files"]) == 1
    assert "permission denied for schema raw" in capsys.readouterr().err
    assert rows(warehouse_url, "select count(*) from raw.submission_files") == [(0,)]


def test_csv_output_neutralises_formulas():
    from nhandao.access.query import as_csv

    assert as_csv(["note"], [("=cmd|' /C calc'!A0",), ("ok",)]) == (
        "note\r\n'=cmd|' /C calc'!A0\r\nok\r\n"
    )
    assert submission_format.COLUMNS[0] == "reporting_unit_code"
