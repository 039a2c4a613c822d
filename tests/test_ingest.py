"""The loader against a real Postgres: good files, duplicates, and real bad files."""

from decimal import Decimal
from pathlib import Path

import pytest
from conftest import rows

from nhandao import generate, ingest

HEADER = ",".join(generate.COLUMNS)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def raw_state(url: str) -> tuple:
    """Counts and sums that must not move when a bad file is refused."""
    return rows(
        url,
        "select (select count(*) from raw.submission_rows),"
        " (select coalesce(sum(value::numeric), 0) from raw.submission_rows),"
        " (select count(*) from raw.submission_files where status = 'loaded')",
    )[0]


@pytest.fixture
def loaded(warehouse_url, tmp_path):
    """A warehouse holding one real generated district-month."""
    district = generate.reference.admin_units()["492"]
    path = tmp_path / "48-492-2024M01.csv"
    generate.write_csv(path, generate.district_month(1, district, 2024, 1))
    [result] = ingest.ingest_paths([path], warehouse_url)
    assert result.status == "loaded"
    return path


def test_loads_every_row_with_its_values(warehouse_url, loaded):
    lines = loaded.read_text(encoding="utf-8").splitlines()[1:]
    expected = sum(Decimal(line.split(",")[4]) for line in lines)
    count, total, files = raw_state(warehouse_url)
    assert (count, total, files) == (len(lines), expected, 1)
    [(name, size, row_count, sha)] = rows(
        warehouse_url, "select file_name, size_bytes, row_count, sha256 from raw.submission_files"
    )
    assert (name, size, row_count) == (loaded.name, loaded.stat().st_size, len(lines))
    assert sha == ingest.sha256_of(loaded)
    # row numbers are file rows (the header is row 1)
    first = rows(
        warehouse_url,
        "select reporting_unit_code, indicator_code from raw.submission_rows where row_number = 2",
    )
    assert first == [tuple(lines[0].split(",")[i] for i in (0, 3))]


def test_same_file_twice_loads_once(warehouse_url, loaded, tmp_path):
    before = raw_state(warehouse_url)
    copy = tmp_path / "renamed-copy.csv"
    copy.write_bytes(loaded.read_bytes())
    results = ingest.ingest_paths([loaded, copy], warehouse_url)
    assert [r.status for r in results] == ["skipped", "skipped"]
    assert raw_state(warehouse_url) == before


def test_row_errors_reject_the_row_and_load_the_rest(warehouse_url, loaded, tmp_path):
    before = raw_state(warehouse_url)
    bad = write(
        tmp_path / "mixed.csv",
        "\n".join(
            [
                HEADER,
                "20245,Phường Hòa Thuận Tây,2024M02,gift_packages,12,exact,tet,",
                "99999,Nowhere,2024M02,gift_packages,5,exact,general,",
                "20245,Phường Hòa Thuận Tây,2024M13,gift_packages,5,,general,",
                "20245,Phường Hòa Thuận Tây,2024M02,blood_bags,5,,general,",
                "20245,Phường Hòa Thuận Tây,2024M02,aid_value_vnd,1.085.000,,general,",
                "20245,Phường Hòa Thuận Tây,2024M02,beneficiaries,7,roughly,general,",
                "20245,Phường Hòa Thuận Tây,2024M02,gift_packages,13,exact,tet,",
                "20245,Phường Hòa Thuận Tây,2099M01,gift_packages,5,,general,",
                "",
            ]
        ),
    )
    [result] = ingest.ingest_paths([bad], warehouse_url)
    assert (result.status, result.rows_loaded, result.rows_rejected) == ("loaded", 1, 7)
    problems = rows(
        warehouse_url,
        "select row_number, column_name, value_seen, reason_code from raw.rejections"
        " where file_id = %s order by row_number",
        (result.file_id,),
    )
    assert problems == [
        (3, "reporting_unit_code", "99999", "unknown_unit"),
        (4, "period", "2024M13", "invalid_period"),
        (5, "indicator_code", "blood_bags", "unknown_indicator"),
        (6, "value", "1.085.000", "invalid_number"),
        (7, "qualifier", "roughly", "invalid_qualifier"),
        (8, "indicator_code", "20245 / 2024M02 / gift_packages / tet", "duplicate_row"),
        (9, "period", "2099M01", "future_period"),
    ]
    vi, en = rows(
        warehouse_url,
        "select message_vi, message_en from raw.rejections where reason_code = 'unknown_unit'",
    )[0]
    assert "99999" in vi and "không có trong danh mục" in vi and "99999" in en
    count, total, files = raw_state(warehouse_url)
    assert (count, total, files) == (before[0] + 1, before[1] + 12, before[2] + 1)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.csv", "", "no_rows"),
        ("header-only.csv", HEADER + "\n", "no_rows"),
        ("wrong-columns.csv", "unit,period,value\n492,2024M01,5\n", "wrong_columns"),
        (
            "extra-field.csv",
            HEADER + "\n492,Q,2024M01,blood_units,5,exact,general,,surprise\n",
            "malformed_row",
        ),
        ("all-bad.csv", HEADER + "\n99999,X,2024M01,blood_units,5,,,\n", "unknown_unit"),
        ("report.xlsx", "PK\x03\x04 not really a workbook", "unsupported_format"),
    ],
)
def test_structural_errors_reject_the_whole_file(
    warehouse_url, loaded, tmp_path, name, content, reason
):
    before = raw_state(warehouse_url)
    [result] = ingest.ingest_paths([write(tmp_path / name, content)], warehouse_url)
    assert result.status == "rejected"
    assert name in result.message
    assert raw_state(warehouse_url) == before
    [(status, recorded_reason)] = rows(
        warehouse_url,
        "select files.status, rejections.reason_code from raw.submission_files as files"
        " join raw.rejections as rejections using (file_id) where files.file_name = %s",
        (name,),
    )
    assert (status, recorded_reason) == ("rejected", reason)


def test_text_that_is_not_utf8_is_refused_with_a_reason(warehouse_url, tmp_path):
    path = write(
        tmp_path / "utf16.csv",
        HEADER + "\n492,Quận Hải Châu,2024M01,blood_units,5,,,\n",
        encoding="utf-16",
    )
    [result] = ingest.ingest_paths([path], warehouse_url)
    assert result.status == "rejected"
    assert rows(warehouse_url, "select count(*) from raw.submission_rows") == [(0,)]
