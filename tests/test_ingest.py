"""The loader against a real Postgres: good files in every encoding, Vietnamese values, unit
names, and real bad files, each leaving what was already loaded exactly as it was."""

import unicodedata
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import rows

from nhandao import submission_format
from nhandao.ingest import files, load
from nhandao.sample import generate

HEADER = ",".join(submission_format.COLUMNS)
WARD = "20245,Phường Hòa Thuận Tây"


TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"


def cp1258(text: str) -> bytes:
    """Windows-1258 as Vietnamese Windows writes it: base letters plus a combining tone mark."""
    out = bytearray()
    for char in unicodedata.normalize("NFC", text):
        try:
            out += char.encode("cp1258")
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", char)
            tone = next(c for c in parts if c in TONE_MARKS)
            base = unicodedata.normalize("NFC", parts.replace(tone, ""))
            out += base.encode("cp1258") + tone.encode("cp1258")
    return bytes(out)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(cp1258(text) if encoding == "cp1258" else text.encode(encoding))
    return path


def raw_state(url: str) -> tuple:
    """Counts and sums that must not move when a bad file is refused."""
    return rows(
        url,
        "select (select count(*) from raw.submission_rows),"
        " (select coalesce(sum(coalesce(parsed_value, cast(value as numeric))), 0)"
        " from raw.submission_rows),"
        " (select count(*) from raw.submission_files where status = 'loaded')",
    )[0]


def rejections(url: str, file_id: int) -> list[tuple]:
    return rows(
        url,
        "select row_number, column_name, value_seen, reason_code from raw.rejections"
        " where file_id = %s order by row_number, column_name",
        (file_id,),
    )


@pytest.fixture
def loaded(warehouse_url, tmp_path):
    """A warehouse holding one real generated district-month."""
    district = generate.reference.admin_units()["492"]
    path = tmp_path / "48-492-2024M01.csv"
    generate.write_csv(path, generate.district_month(1, district, 2024, 1))
    [result] = load.ingest_paths([path], warehouse_url)
    assert result.status == "loaded"
    return path


def test_loads_every_row_with_its_values(warehouse_url, loaded):
    lines = loaded.read_text(encoding="utf-8").splitlines()[1:]
    expected = sum(Decimal(line.split(",")[4]) for line in lines)
    assert raw_state(warehouse_url) == (len(lines), expected, 1)
    [(name, size, row_count, sha, encoding, submitter)] = rows(
        warehouse_url,
        "select file_name, size_bytes, row_count, sha256, encoding, submitting_unit_code"
        " from raw.submission_files",
    )
    assert (name, size, row_count) == (loaded.name, loaded.stat().st_size, len(lines))
    assert (sha, encoding, submitter) == (files.sha256_of(loaded), "utf-8", "492")
    first = rows(
        warehouse_url,
        "select reporting_unit_code, indicator_code from raw.submission_rows where row_number = 2",
    )
    assert first == [tuple(lines[0].split(",")[i] for i in (0, 3))]


def test_same_file_twice_loads_once(warehouse_url, loaded, tmp_path):
    before = raw_state(warehouse_url)
    copy = tmp_path / "renamed-copy.csv"
    copy.write_bytes(loaded.read_bytes())
    results = load.ingest_paths([loaded, copy], warehouse_url)
    assert [r.status for r in results] == ["skipped", "skipped"]
    assert raw_state(warehouse_url) == before


VIETNAMESE_VALUES = [
    # indicator, value as written, value read, qualifier read
    ("aid_value_vnd", "624.845.000 đồng", Decimal("624845000"), "exact"),
    ("funds_raised_vnd", "133.251.000đ", Decimal("133251000"), "exact"),
    ("aid_value_vnd", "13,8 tỷ đồng", Decimal("13800000000"), "exact"),
    ("aid_value_vnd", "hơn 120 triệu đồng", Decimal("120000000"), "lower_bound"),
    ("gift_packages", "02", Decimal("2"), "exact"),
    ("target_attainment_pct", "109,5", Decimal("109.5"), "exact"),
    ("blood_units", "1.085", Decimal("1085"), "exact"),
    ("beneficiaries", "gần 1,2 triệu", Decimal("1200000"), "approximate"),
    ("houses_built", "khoảng 12", Decimal("12"), "approximate"),
    ("volunteers", "TRÊN 300", Decimal("300"), "lower_bound"),
    ("scholarships", "1 085", Decimal("1085"), "exact"),
    ("blood_donors", "1.200", Decimal("1200"), "exact"),
]


def test_vietnamese_values_become_value_and_qualifier(warehouse_url, tmp_path):
    lines = [HEADER] + [
        f'{WARD},2024M{i + 1:02d},{indicator},"{value}",,general,'
        for i, (indicator, value, _, _) in enumerate(VIETNAMESE_VALUES)
    ]
    # the same value in decomposed Unicode (NFD) reads the same
    lines.append(f'{WARD},2024M01,first_aid_classes,"{unicodedata.normalize("NFD", "hơn 5")}",,,')
    [result] = load.ingest_paths([write(tmp_path / "values.csv", "\n".join(lines))], warehouse_url)
    assert (result.status, result.rows_rejected) == ("loaded", 0)
    read = rows(
        warehouse_url,
        "select value, parsed_value, parsed_qualifier from raw.submission_rows order by row_number",
    )
    expected = [(written, value, qualifier) for _, written, value, qualifier in VIETNAMESE_VALUES]
    assert read[:-1] == expected
    assert read[-1][1:] == (Decimal("5"), "lower_bound")


def test_row_errors_reject_the_row_and_load_the_rest(warehouse_url, loaded, tmp_path):
    before = raw_state(warehouse_url)
    bad = write(
        tmp_path / "mixed.csv",
        "\n".join(
            [
                HEADER,
                f"{WARD},2024M02,gift_packages,12,exact,tet,",
                "99999,Nowhere,2024M02,gift_packages,5,exact,general,",
                f"{WARD},2024M13,gift_packages,5,,general,",
                f"{WARD},2024M02,blood_bags,5,,general,",
                f"{WARD},2024M02,gift_packages,1.5,,general,",
                f"{WARD},2024M02,beneficiaries,7,roughly,general,",
                f"{WARD},2024M02,gift_packages,13,exact,tet,",
                f"{WARD},2099M01,gift_packages,5,,general,",
                f"{WARD},2024M02,aid_value_vnd,-250000,,general,",
                f"{WARD},2024M02,aid_value_vnd,1000000000000000,,disaster_relief,",
                f"{WARD},2024M02,aid_value_vnd,20.000 đồng/tháng,,humanitarian_month,",
                f"{WARD},2024M02,gift_packages,50 đồng,,humanitarian_month,",
                f"{WARD},2024M02,households_supported,hơn 3,exact,general,",
                f"{WARD},2024M02,first_aid_classes,\"=cmd|' /C calc'!A0\",,general,",
                f"{WARD},2024M02,first_aid_trainees,3,,no_such_program,",
                "",
            ]
        ),
    )
    [result] = load.ingest_paths([bad], warehouse_url)
    assert (result.status, result.rows_loaded, result.rows_rejected) == ("loaded", 1, 14)
    assert rejections(warehouse_url, result.file_id) == [
        (3, "reporting_unit_code", "99999", "unknown_unit"),
        (4, "period", "2024M13", "invalid_period"),
        (5, "indicator_code", "blood_bags", "unknown_indicator"),
        (6, "value", "1.5", "ambiguous_number"),
        (7, "qualifier", "roughly", "invalid_qualifier"),
        (8, "indicator_code", "20245 / 2024M02 / gift_packages / tet", "duplicate_row"),
        (9, "period", "2099M01", "future_period"),
        (10, "value", "-250000", "negative_value"),
        (11, "value", "1000000000000000", "implausible_value"),
        (12, "value", "20.000 đồng/tháng", "rate_not_total"),
        (13, "value", "50 đồng", "currency_on_count"),
        (14, "qualifier", "exact", "conflicting_qualifier"),
        (15, "value", "=cmd|' /C calc'!A0", "invalid_number"),
        (16, "program_code", "no_such_program", "unknown_program"),
    ]
    vi, en = rows(
        warehouse_url,
        "select message_vi, message_en from raw.rejections where reason_code = 'unknown_unit'",
    )[0]
    assert "99999" in vi and "không có trong danh mục" in vi and "99999" in en
    count, total, files = raw_state(warehouse_url)
    assert (count, total, files) == (before[0] + 1, before[1] + 12, before[2] + 1)

    # the report beside the file, for the district officer: formulas neutralised
    csv_report, html_report = result.report_paths
    assert csv_report.name == "mixed.csv.rejections.csv"
    report = csv_report.read_text(encoding="utf-8-sig")
    assert "'=cmd|' /C calc'!A0" in report and "\n=cmd" not in report
    page = html_report.read_text(encoding="utf-8")
    assert "Đã nạp 1 dòng; 14 dòng bị từ chối" in page and "<script" not in page
    assert "http" not in page  # self-contained


def test_units_by_name_resolve_within_the_district(warehouse_url, tmp_path):
    names = [
        "Phường Hòa Thuận Tây",
        "P. Hòa Thuận Tây",
        "Hoa Thuan Tay",
        unicodedata.normalize("NFD", "phường hòa thuận tây"),
    ]
    lines = (
        [HEADER, "492,Quận Hải Châu,2024M03,blood_units,900,,blood_donation,"]
        + [
            f",{name},2024M03,{indicator},{i + 1},,general,"
            for i, (name, indicator) in enumerate(
                zip(
                    names,
                    ["gift_packages", "beneficiaries", "scholarships", "houses_built"],
                    strict=True,
                )
            )
        ]
        + [
            ",Phường Hòa Thuận Bắc,2024M03,gift_packages,4,,general,",  # no such ward
            ",Nowhere Ward,2024M03,gift_packages,4,,general,",
        ]
    )
    [result] = load.ingest_paths([write(tmp_path / "names.csv", "\n".join(lines))], warehouse_url)
    assert (result.rows_loaded, result.rows_rejected) == (5, 2)
    resolved = rows(
        warehouse_url,
        "select distinct resolved_unit_code from raw.submission_rows"
        " where reporting_unit_code is null",
    )
    assert resolved == [("20245",)]
    problems = rows(
        warehouse_url,
        "select value_seen, reason_code, message_en from raw.rejections order by row_number",
    )
    assert [p[:2] for p in problems] == [
        ("Phường Hòa Thuận Bắc", "unknown_unit_name"),
        ("Nowhere Ward", "unknown_unit_name"),
    ]
    assert "20245 Phường Hòa Thuận Tây" in problems[0][2]  # the closest names are offered


def test_an_ambiguous_name_lists_the_candidates(warehouse_url, tmp_path):
    # without a coded row the whole country is searched: "Phước Ninh" is not unique there
    text = HEADER + "\n,Phường Phước Ninh,2024M03,gift_packages,4,,general,\n"
    [result] = load.ingest_paths([write(tmp_path / "ambiguous.csv", text)], warehouse_url)
    assert result.status == "rejected"
    [(reason, message)] = rows(warehouse_url, "select reason_code, message_en from raw.rejections")
    assert reason == "ambiguous_unit_name"
    assert "20242 Phường Phước Ninh" in message and message.count(";") >= 1


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("utf-8-sig", ","), ("utf-16", "\t"), ("cp1258", ",")],
)
def test_encodings_load_with_the_right_vietnamese_text(
    warehouse_url, tmp_path, encoding, delimiter
):
    lines = [HEADER, f'{WARD},2024M04,gift_packages,"1.085",,tet,Quà Tết Nguyên đán']
    text = "\r\n".join(line.replace(",", delimiter) for line in lines) + "\r\n"
    if delimiter == "\t":
        text = text.replace('"', "")
    path = write(tmp_path / f"{encoding}.csv", text, encoding)
    [result] = load.ingest_paths([path], warehouse_url)
    assert (result.status, result.rows_loaded) == ("loaded", 1)
    stored = rows(
        warehouse_url,
        "select reporting_unit_name, note, parsed_value, files.encoding"
        " from raw.submission_rows join raw.submission_files as files using (file_id)",
    )
    assert stored == [
        (
            "Phường Hòa Thuận Tây",
            "Quà Tết Nguyên đán",
            Decimal("1085"),
            "utf-16" if encoding == "utf-16" else encoding,
        )
    ]


def zip_bomb(path: Path) -> Path:
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member,
    ):
        block = b"\0" * (1 << 20)
        for _ in range(300):
            member.write(block)
    return path


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("empty.csv", lambda p: write(p, ""), "no_rows"),
        ("header-only.csv", lambda p: write(p, HEADER + "\n"), "no_rows"),
        (
            "wrong-columns.csv",
            lambda p: write(p, "unit,period,value\n492,2024M01,5\n"),
            "wrong_columns",
        ),
        (
            "extra-field.csv",
            lambda p: write(p, HEADER + "\n492,Q,2024M01,blood_units,5,exact,general,,surprise\n"),
            "malformed_row",
        ),
        (
            "all-bad.csv",
            lambda p: write(p, HEADER + "\n99999,X,2024M01,blood_units,5,,,\n"),
            "unknown_unit",
        ),
        ("report.pdf", lambda p: write(p, "%PDF-1.4"), "unsupported_format"),
        (
            "truncated.xlsx",
            lambda p: write(p, "PK\x03\x04\x14\x00\x00\x00"),
            "unreadable_file",
        ),
        (
            "page.xlsx",
            lambda p: write(p, "<!DOCTYPE html><html><body>Đăng nhập</body></html>"),
            "unreadable_file",
        ),
        ("bomb.xlsx", zip_bomb, "suspicious_file"),
    ],
)
def test_structural_errors_reject_the_whole_file(
    warehouse_url, loaded, tmp_path, name, make, reason
):
    before = raw_state(warehouse_url)
    path = make(tmp_path / name)
    [result] = load.ingest_paths([path], warehouse_url)
    assert result.status == "rejected"
    assert name in result.message
    assert raw_state(warehouse_url) == before
    recorded = rows(
        warehouse_url,
        "select files.status, rejections.reason_code from raw.submission_files as files"
        " join raw.rejections as rejections using (file_id) where files.file_name = %s",
        (name,),
    )
    assert recorded and {r for r in recorded} == {("rejected", reason)}
    assert (tmp_path / f"{name}.rejections.html").is_file()


def test_a_big_file_that_breaks_at_the_end_commits_nothing(warehouse_url, loaded, tmp_path):
    """A 10 MB+ file whose last line is broken: the whole load rolls back."""
    before = raw_state(warehouse_url)
    path = tmp_path / "big.csv"
    units = [u for u in generate.reference.admin_units().values() if u.level == "ward"]
    with open(path, "w", encoding="utf-8") as out:
        out.write(HEADER + "\n")
        for i, unit in enumerate(units):
            for month in range(1, 13):
                for indicator in ("gift_packages", "beneficiaries", "aid_value_vnd"):
                    out.write(
                        f"{unit.code},{unit.name},2024M{month:02d},{indicator},{i + month},"
                        ",general,\n"
                    )
        out.write('20245,"unterminated quote,2024M01,gift_packages,5,,general,\n')
    assert path.stat().st_size > 10 * 1024 * 1024
    [result] = load.ingest_paths([path], warehouse_url)
    assert result.status == "rejected"
    assert "malformed" in result.message or "not valid CSV" in result.message
    assert raw_state(warehouse_url) == before


def fill_form(path: Path, values: dict[tuple[str, str], str], note: str = "") -> Path:
    """Fill the template like a district officer: by unit name and column label."""
    import openpyxl

    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    header_row = next(r for r in range(1, 20) if sheet.cell(r, 1).value == "Mã đơn vị")
    columns = {sheet.cell(header_row, c).value: c for c in range(1, sheet.max_column + 1)}
    for row in range(header_row + 1, sheet.max_row + 1):
        name = sheet.cell(row, 2).value
        for (unit_name, label), value in values.items():
            if unit_name == name:
                cell = sheet.cell(row, columns[label])
                cell.value = value
                cell.data_type = "s"  # as typed: text, never a formula
        if note and name == "Phường Hòa Thuận Tây":
            sheet.cell(row, columns["Ghi chú"]).value = note
            sheet.cell(row, columns["Ghi chú"]).data_type = "s"
    book.save(path)
    return path


def test_the_excel_form_filled_in_ingests(warehouse_url, tmp_path, capsys):
    from nhandao.access.query import as_csv
    from nhandao.cli import main

    form = tmp_path / "hai-chau-2024M09.xlsx"
    assert main(["template", "--unit", "492", "--period", "2024M09", "--out", str(form)]) == 0
    fill_form(
        form,
        {
            ("Quận Hải Châu", "Đơn vị máu"): "1.085",
            ("Phường Hòa Thuận Tây", "Tổng giá trị trợ giúp (đồng)"): "hơn 13,8 tỷ đồng",
            ("Phường Hòa Thuận Tây", "Suất quà"): "02",
            ("Phường Thạch Thang", "Suất quà"): "1.5",
        },
        note="=cmd|' /C calc'!A0",
    )
    # a ward typed by name only, as officers do
    import openpyxl

    book = openpyxl.load_workbook(form)
    sheet = book.worksheets[0]
    last = sheet.max_row + 1
    sheet.cell(last, 2).value = "P. Hòa Cường Bắc"
    header_row = next(r for r in range(1, 20) if sheet.cell(r, 1).value == "Mã đơn vị")
    gifts = next(
        c for c in range(1, sheet.max_column + 1) if sheet.cell(header_row, c).value == "Suất quà"
    )
    sheet.cell(last, gifts).value = 7
    book.save(form)

    assert main(["ingest", str(form)]) == 0
    out = capsys.readouterr().out
    assert "loaded    hai-chau-2024M09.xlsx: 4 rows, 1 row(s) rejected" in out
    loaded = rows(
        warehouse_url,
        "select resolved_unit_code, period, indicator_code, parsed_value, parsed_qualifier,"
        " sheet_name, source_column is not null from raw.submission_rows order by record_number",
    )
    assert loaded == [
        ("492", "2024M09", "blood_units", Decimal("1085"), "exact", "Báo cáo", True),
        (
            "20245",
            "2024M09",
            "aid_value_vnd",
            Decimal("13800000000"),
            "lower_bound",
            "Báo cáo",
            True,
        ),
        ("20245", "2024M09", "gift_packages", Decimal("2"), "exact", "Báo cáo", True),
        ("20257", "2024M09", "gift_packages", Decimal("7"), "exact", "Báo cáo", True),
    ]
    [(sheet_name, row, column, excel_column, reason)] = rows(
        warehouse_url,
        "select sheet_name, row_number, column_name, source_column, reason_code"
        " from raw.rejections",
    )
    assert (sheet_name, column, reason) == ("Báo cáo", "value", "ambiguous_number")
    assert row > 8 and excel_column.isalpha()
    report = (tmp_path / "hai-chau-2024M09.xlsx.rejections.csv").read_text(encoding="utf-8-sig")
    assert "ambiguous_number" in report

    # the injection string is kept as plain text, and neutralised in any CSV nhandao writes
    notes = rows(
        warehouse_url,
        "select distinct note from raw.submission_rows where resolved_unit_code = '20245'",
    )
    assert notes == [("=cmd|' /C calc'!A0",)]
    assert as_csv(["note"], notes) == "note\r\n'=cmd|' /C calc'!A0\r\n"


def test_a_form_with_a_future_period_is_rejected_whole(warehouse_url, tmp_path):
    from nhandao.ingest import excel_form

    form = excel_form.write_template("492", "2024M09", tmp_path / "future.xlsx")
    import openpyxl

    book = openpyxl.load_workbook(form)
    sheet = book.worksheets[0]
    period_row = next(r for r in range(1, 8) if sheet.cell(r, 1).value == "Kỳ báo cáo")
    sheet.cell(period_row, 2).value = "2099M01"
    book.save(form)
    fill_form(form, {("Quận Hải Châu", "Đơn vị máu"): "100"})
    [result] = load.ingest_paths([form], warehouse_url)
    assert result.status == "rejected" and "2099M01" in result.message
    assert rows(warehouse_url, "select count(*) from raw.submission_rows") == [(0,)]


def test_units_are_read_on_the_map_of_the_period(warehouse_url, tmp_path):
    """The 1 July 2025 reform reused codes: 20242 was Phường Phước Ninh, is Phường Hải Châu."""
    text = "\n".join(
        [
            HEADER,
            "20242,Phường Phước Ninh,2025M06,gift_packages,10,,general,",
            "20242,Phường Hải Châu,2025M09,gift_packages,20,,general,",
            "48,Thành phố Đà Nẵng,2025M09,blood_units,900,,blood_donation,",
            ",Phường Hòa Cường,2025M09,gift_packages,30,,general,",  # a new ward, by name
            "20245,Phường Hòa Thuận Tây,2025M09,gift_packages,40,,general,",  # merged away
            "20245,Phường Hòa Thuận Tây,2025M06,gift_packages,50,,general,",
        ]
    )
    [result] = load.ingest_paths([write(tmp_path / "reform.csv", text)], warehouse_url)
    assert (result.rows_loaded, result.rows_rejected) == (5, 1)
    loaded = rows(
        warehouse_url,
        "select period, resolved_unit_code, parsed_value"
        " from raw.submission_rows order by row_number",
    )
    assert loaded == [
        ("2025M06", "20242", 10),
        ("2025M09", "20242", 20),
        ("2025M09", "48", 900),
        ("2025M09", "20257", 30),
        ("2025M06", "20245", 50),
    ]
    assert rows(
        warehouse_url, "select row_number, value_seen, reason_code from raw.rejections"
    ) == [(6, "20245", "unit_not_in_period")]


def test_campaign_periods_come_from_the_reporting_calendar(warehouse_url, tmp_path):
    text = "\n".join(
        [
            HEADER,
            f"{WARD},2024TET,gift_packages,550,,tet,Tết Giáp Thìn",
            "492,Quận Hải Châu,2024HTD,blood_units,1.085,,blood_donation,Hành trình đỏ",
            f"{WARD},2040TET,gift_packages,5,,tet,",
            f"{WARD},2024FOO,gift_packages,5,,tet,",
        ]
    )
    [result] = load.ingest_paths([write(tmp_path / "campaigns.csv", text)], warehouse_url)
    assert (result.rows_loaded, result.rows_rejected) == (2, 2)
    assert rows(
        warehouse_url, "select value_seen, reason_code from raw.rejections order by row_number"
    ) == [("2040TET", "invalid_period"), ("2024FOO", "invalid_period")]


PERCENT_VALUES = [
    # value as written for target_attainment_pct, value read, qualifier read
    ("388%", Decimal("388"), "exact"),
    ("109,5%", Decimal("109.5"), "exact"),
    ("109,5 %", Decimal("109.5"), "exact"),
    ("đạt 102,3 %", Decimal("102.3"), "exact"),
    ("đạt 388% kế hoạch", Decimal("388"), "exact"),
    ("Đạt 95% chỉ tiêu", Decimal("95"), "exact"),
    ("đạt 101,5% so với kế hoạch", Decimal("101.5"), "exact"),
    ("vượt 12% chỉ tiêu", Decimal("112"), "exact"),
    ("hơn 100%", Decimal("100"), "lower_bound"),
    ("đạt gần 98% KH", Decimal("98"), "approximate"),
    ("gần đạt 99 %", Decimal("99"), "approximate"),
]


def test_percent_figures_load_as_districts_write_them(warehouse_url, tmp_path):
    lines = [HEADER] + [
        f'{WARD},2024M{i + 1:02d},target_attainment_pct,"{value}",,general,'
        for i, (value, _, _) in enumerate(PERCENT_VALUES)
    ]
    # "đạt" (reached) before any figure changes nothing
    lines.append(f'{WARD},2024M01,aid_value_vnd,"đạt gần 24 tỷ đồng",,general,')
    path = write(tmp_path / "attainment.csv", "\n".join(lines))
    [result] = load.ingest_paths([path], warehouse_url)
    assert (result.status, result.rows_rejected) == ("loaded", 0), result.message
    read = rows(
        warehouse_url,
        "select value, parsed_value, parsed_qualifier from raw.submission_rows order by row_number",
    )
    assert read[:-1] == PERCENT_VALUES
    assert read[-1] == ("đạt gần 24 tỷ đồng", Decimal("24000000000"), "approximate")


def test_a_percent_where_the_indicator_is_not_one_is_rejected(warehouse_url, tmp_path):
    lines = [
        HEADER,
        f"{WARD},2024M01,gift_packages,12,,general,",
        f'{WARD},2024M02,blood_units,"12%",,general,',
        f'{WARD},2024M02,aid_value_vnd,"vượt 5%",,general,',
        f'{WARD},2024,target_attainment_pct,"tăng 85%",,general,',  # a change, not attainment
        f'{WARD},2023,target_attainment_pct,"vượt 120",,general,',  # exceeded by what?
        f'{WARD},2022,target_attainment_pct,"đạt 95% kế hoạch năm sau",,general,',
    ]
    path = write(tmp_path / "percent.csv", "\n".join(lines))
    [result] = load.ingest_paths([path], warehouse_url)
    assert (result.status, result.rows_loaded, result.rows_rejected) == ("loaded", 1, 5)
    assert rejections(warehouse_url, result.file_id) == [
        (3, "value", "12%", "percent_not_allowed"),
        (4, "value", "vượt 5%", "percent_not_allowed"),
        (5, "value", "tăng 85%", "invalid_number"),
        (6, "value", "vượt 120", "invalid_number"),
        (7, "value", "đạt 95% kế hoạch năm sau", "invalid_number"),
    ]
    vi, en = rows(
        warehouse_url,
        "select message_vi, message_en from raw.rejections where value_seen = %s",
        ("12%",),
    )[0]
    assert "12%" in vi and "phần trăm" in vi and "12%" in en and "percent" in en


INDICATOR_NAMES = [
    # as given in indicator_code, the indicator it is
    ("Đơn vị máu", "blood_units"),
    ("don vi mau", "blood_units"),
    ("Blood units", "blood_units"),
    ("blood units", "blood_units"),
    ("BLOOD_UNITS", "blood_units"),
    (unicodedata.normalize("NFD", "Đơn vị máu"), "blood_units"),
    ("Blood unit", "blood_units"),  # a close English name
    ("Tổng giá trị trợ giúp (đồng)", "aid_value_vnd"),  # the Excel template's label
    ("Health insurance cards", "health_insurance_cards"),  # 'Health-insurance cards'
    ("  Suất quà  ", "gift_packages"),
    ("Nhà đại đoàn kết", "houses_built"),  # one kind of 'Nhà chữ thập đỏ / đại đoàn kết / …'
    ("nha tinh thuong", "houses_built"),
]
PROGRAM_NAMES = [
    ("Tết vì người nghèo và nạn nhân chất độc da cam", "tet"),
    ("Tet", "tet"),
    ("Hien mau tinh nguyen", "blood_donation"),
    ("Humanitarian Month", "humanitarian_month"),
    ("GENERAL", "general"),
    ("Quỹ Vì người nghèo", "poverty_fund"),
]


def test_indicators_and_programs_by_name_resolve_to_their_codes(warehouse_url, tmp_path):
    lines = [HEADER] + [
        f"{WARD},2024M{i + 1:02d},{given},{i + 1},,{program},"
        for i, ((given, _), (program, _)) in enumerate(
            zip(INDICATOR_NAMES, PROGRAM_NAMES * 2, strict=True)
        )
    ]
    [result] = load.ingest_paths([write(tmp_path / "names.csv", "\n".join(lines))], warehouse_url)
    assert (result.status, result.rows_rejected) == ("loaded", 0), result.message
    stored = rows(
        warehouse_url,
        "select indicator_code, program_code from raw.submission_rows order by row_number",
    )
    assert stored == [
        (indicator, program)
        for (_, indicator), (_, program) in zip(INDICATOR_NAMES, PROGRAM_NAMES * 2, strict=True)
    ]


def test_ambiguous_and_unknown_indicators_and_programs_are_rejected(warehouse_url, tmp_path):
    lines = [
        HEADER,
        f"{WARD},2024M01,gift_packages,5,,tet,",
        f"{WARD},2024M02,Hiến máu,5,,general,",  # two indicators: drives, donors
        f"{WARD},2024M03,Blood unts,5,,general,",  # a typo
        f"{WARD},2024M04,BHYT,5,,general,",  # part of one indicator's name
        f"{WARD},2024M05,Số ca phẫu thuật,5,,general,",  # not an indicator at all
        f"{WARD},2024M06,gift_packages,5,,vì người nghèo,",  # Tết, or the fund?
        f"{WARD},2024M07,gift_packages,5,,Tháng nhân ái,",
    ]
    path = write(tmp_path / "names.csv", "\n".join(lines))
    [result] = load.ingest_paths([path], warehouse_url)
    assert (result.status, result.rows_loaded, result.rows_rejected) == ("loaded", 1, 6)
    problems = rows(
        warehouse_url,
        "select row_number, column_name, value_seen, reason_code, message_vi, message_en"
        " from raw.rejections order by row_number",
    )
    assert [p[:4] for p in problems] == [
        (3, "indicator_code", "Hiến máu", "ambiguous_indicator"),
        (4, "indicator_code", "Blood unts", "unknown_indicator"),
        (5, "indicator_code", "BHYT", "unknown_indicator"),
        (6, "indicator_code", "Số ca phẫu thuật", "unknown_indicator"),
        (7, "program_code", "vì người nghèo", "ambiguous_program"),
        (8, "program_code", "Tháng nhân ái", "unknown_program"),
    ]
    messages = {p[2]: (p[4], p[5]) for p in problems}
    vi, en = messages["Hiến máu"]
    assert "nhiều chỉ tiêu" in vi and "several indicators" in en
    for message in (vi, en):
        assert "blood_drives (Đợt hiến máu / Blood drives)" in message
        assert "blood_donors (Lượt người hiến máu / Blood donors)" in message
        assert "blood_units" not in message
    assert ": blood_units (Đơn vị máu / Blood units)" in messages["Blood unts"][1]  # first
    assert "health_insurance_cards (Thẻ BHYT" in messages["BHYT"][1]
    assert "aid_value_vnd" in messages["Số ca phẫu thuật"][1]  # nothing close: every code
    assert "poverty_fund (Quỹ Vì người nghèo" in messages["vì người nghèo"][1]
    assert "tet (Tết vì người nghèo" in messages["vì người nghèo"][1]
    assert "humanitarian_month (Tháng Nhân đạo" in messages["Tháng nhân ái"][1]

    # the report for the district names the file, the row, the field and the value given
    csv_report, html_report = result.report_paths
    assert csv_report.name == "names.csv.rejections.csv"
    report = csv_report.read_text(encoding="utf-8-sig").splitlines()
    assert report[1].startswith(",3,indicator_code,,Hiến máu,ambiguous_indicator,")
    page = html_report.read_text(encoding="utf-8")
    assert "names.csv" in page and "Hiến máu" in page and "blood_drives" in page
