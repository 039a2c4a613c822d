"""The bulk path for clean CSVs (nhandao.bulk_csv) against a real Postgres: it stores exactly
what the set-wise SQL path stores, and anything not clean goes to the SQL path with nothing of
the bulk attempt left behind."""

import logging
from pathlib import Path

import psycopg
import pytest
from conftest import rows

from nhandao import bulk_csv, generate, ingest

HEADER = ",".join(generate.COLUMNS)
FALLBACK = "the set-wise path reads this file"
STORED = (
    "record_number, row_number, sheet_name, source_column, reporting_unit_code,"
    " reporting_unit_name, period, indicator_code, value, qualifier, program_code, note,"
    # what the row was read as, as staging reads it (null there: as given)
    " coalesce(resolved_unit_code, reporting_unit_code),"
    " coalesce(parsed_value, cast(value as numeric)),"
    " coalesce(parsed_qualifier, nullif(qualifier, ''), 'exact')"
)
FILE_FIELDS = (
    "file_name, sha256, size_bytes, source_format, encoding, submitting_unit_code, status,"
    " submission_kind, row_count, rejected_row_count"
)


def district_month(folder: Path, district: str, year: int, month: int) -> Path:
    unit = generate.reference.admin_units()[district]
    path = folder / f"48-{district}-{year}M{month:02d}.csv"
    generate.write_csv(path, generate.district_month(1, unit, year, month))
    return path


def clean_files(folder: Path) -> list[Path]:
    """Generated district-months, plus the same shapes with a byte-order mark, quoted values
    (a note with a comma and a line break), padded cells and empty qualifiers and programs."""
    folder.mkdir()
    files = [district_month(folder, "492", 2024, m) for m in (1, 5, 9)]
    files.append(district_month(folder, "490", 2023, 2))
    bom = folder / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + files[0].read_bytes().replace(b"2024M01", b"2024M02"))
    quoted = folder / "quoted.csv"
    quoted.write_text(
        f"{HEADER}\n"
        '20245,"Phường Hòa Thuận Tây",2024M03,gift_packages,350,exact,tet,"Trao quà, Tết\n'
        'nhà ""Chữ thập đỏ"""\n'
        "20245,Phường Hòa Thuận Tây,2024M03,aid_value_vnd,0120000000,,,\n"
        " 20245 ,  Phường Hòa Thuận Tây  , 2024M03 , households_supported ,7, lower_bound ,"
        " general ,   \n",
        encoding="utf-8",
    )
    return [*files, bom, quoted]


def stored(url: str) -> tuple[list, list]:
    return (
        rows(
            url,
            f"select files.file_name, {STORED} from raw.submission_rows"
            " inner join raw.submission_files as files using (file_id)"
            " order by files.file_name, record_number",
        ),
        rows(url, f"select {FILE_FIELDS} from raw.submission_files order by file_name"),
    )


def empty_raw(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("truncate raw.submission_rows, raw.submission_files cascade")


def fallbacks(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if FALLBACK in r.getMessage()]


def test_bulk_path_stores_what_the_sql_path_stores(warehouse_url, tmp_path, caplog, monkeypatch):
    files = clean_files(tmp_path / "clean")
    caplog.set_level(logging.INFO, logger="nhandao.ingest")
    bulk = ingest.ingest_paths(files, warehouse_url)
    assert [r.status for r in bulk] == ["loaded"] * len(files)
    assert fallbacks(caplog) == []  # every one of them went the bulk way
    by_bulk = stored(warehouse_url)

    empty_raw(warehouse_url)
    monkeypatch.setattr(ingest, "_try_bulk", lambda conn, path, print_: None)
    by_sql = ingest.ingest_paths(files, warehouse_url)
    assert [r.rows_loaded for r in by_sql] == [r.rows_loaded for r in bulk]
    assert stored(warehouse_url) == by_bulk
    # what the padded and quoted rows were read as
    quoted = [row for row in by_bulk[0] if row[0] == "quoted.csv"]
    assert [(r[5], r[8], r[9], r[10], r[11], r[12], r[14], r[15]) for r in quoted] == [
        ("20245", "gift_packages", "350", "exact", "tet", 'Trao quà, Tết\nnhà "Chữ thập đỏ"', 350,
         "exact"),
        ("20245", "aid_value_vnd", "0120000000", None, "general", None, 120000000, "exact"),
        ("20245", "households_supported", "7", "lower_bound", "general", None, 7, "lower_bound"),
    ]  # fmt: skip
    assert {r[5] for r in by_bulk[1]} == {"492", "490"}  # the submitting units


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("20245,,2024M03,aid_value_vnd,1.085.000 đồng,,,", "a value is not a plain number"),
        (",Phường Hòa Thuận Tây,2024M03,gift_packages,3,,,", "no unit code"),
        ("20245,,2024M03,Gift_Packages,3,,,", "canonical spelling"),
        ("20245,,2024M03,gift_packages,3,,tết,", "program is unknown"),
        ("20245,,2099M03,gift_packages,3,,,", "in the future"),
        ("20245,,2024M13,gift_packages,3,,,", "not a period code"),
        ("99999,,2024M03,gift_packages,3,,,", "unknown one"),
        ("20245,,2024M03,blood_units,1000000000,,,", "plausible maximum"),
        ("20333,,2024M03,gift_packages,3,,,", "did not exist"),  # a commune from July 2025
    ],
)
def test_anything_not_clean_goes_the_sql_way(warehouse_url, tmp_path, caplog, line, why):
    path = tmp_path / "one.csv"
    path.write_text(
        f"{HEADER}\n20245,,2024M03,households_supported,5,,,\n{line}\n", encoding="utf-8"
    )
    caplog.set_level(logging.INFO, logger="nhandao.ingest")
    [result] = ingest.ingest_paths([path], warehouse_url)
    [message] = fallbacks(caplog)
    assert why in message
    # the SQL path then judged the file: the good row loaded, the odd one read or rejected
    loaded = rows(warehouse_url, "select count(*) from raw.submission_rows")[0][0]
    assert result.status == "loaded" and loaded == result.rows_loaded >= 1
    assert result.rows_loaded + result.rows_rejected == 2


def test_a_malformed_line_is_left_to_copy_to_name(warehouse_url, tmp_path, caplog):
    path = tmp_path / "ragged.csv"
    path.write_text(
        f"{HEADER}\n20245,,2024M03,households_supported,5,,,\n20245,,2024M03,gift_packages,3,,,,\n",
        encoding="utf-8",
    )
    caplog.set_level(logging.INFO, logger="nhandao.ingest")
    [result] = ingest.ingest_paths([path], warehouse_url)
    [message] = fallbacks(caplog)
    assert "CSV reader stopped" in message
    assert result.status == "rejected" and "line 3" in result.message
    assert rows(warehouse_url, "select count(*) from raw.submission_rows") == [(0,)]


def test_a_late_problem_leaves_nothing_of_the_bulk_attempt(
    warehouse_url, tmp_path, caplog, monkeypatch
):
    """Many batches; the last one repeats a figure of the first. The bulk attempt has already
    streamed rows into raw.submission_rows by then; all of it must be rolled back."""
    monkeypatch.setattr(bulk_csv, "BLOCK_SIZE", 4096)
    first = district_month(tmp_path, "492", 2024, 1)
    lines = first.read_text(encoding="utf-8").splitlines()
    repeated = lines[1].replace(",exact,", ",approximate,")
    path = tmp_path / "late.csv"
    path.write_text("\n".join([*lines, repeated]) + "\n", encoding="utf-8")
    caplog.set_level(logging.INFO, logger="nhandao.ingest")
    [result] = ingest.ingest_paths([path], warehouse_url)
    [message] = fallbacks(caplog)
    assert "given twice" in message
    assert (result.rows_loaded, result.rows_rejected) == (len(lines) - 1, 1)
    assert rows(
        warehouse_url,
        "select count(*), count(distinct file_id), max(record_number) from raw.submission_rows",
    ) == [(len(lines) - 1, 1, len(lines) - 1)]
    assert rows(
        warehouse_url,
        "select status, row_count, rejected_row_count from raw.submission_files",
    ) == [("loaded", len(lines) - 1, 1)]
    assert rows(warehouse_url, "select reason_code, row_number from raw.rejections") == [
        ("duplicate_row", len(lines) + 1)
    ]
