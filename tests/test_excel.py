"""The province's Excel form: template, round trip through a filled workbook, bad files."""

from __future__ import annotations

import pickle
import re
import unicodedata
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from nhandao.ingest import excel_form
from nhandao.ingest.excel_form import Cell, Report, WorkbookError, read_workbook, write_template

SHEET = "Báo cáo"
HAI_CHAU_WARDS = [
    ("20227", "Phường Thanh Bình"),
    ("20230", "Phường Thuận Phước"),
    ("20233", "Phường Thạch Thang"),
    ("20236", "Phường Hải Châu"),
    ("20242", "Phường Phước Ninh"),
    ("20245", "Phường Hòa Thuận Tây"),
    ("20254", "Phường Bình Thuận"),
    ("20257", "Phường Hòa Cường Bắc"),
    ("20258", "Phường Hòa Cường Nam"),
]
HEADER_ROW = 8  # the template's table header; unit rows start on row 9


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def template(tmp_path: Path, unit: str = "492", period: str = "2024M09") -> Path:
    return write_template(unit, period, tmp_path / f"mau_{unit}_{period}.xlsx")


def column_of(ws, label: str) -> str:
    """The template column letter whose header label is `label`."""
    for cell in ws[HEADER_ROW]:
        if cell.value == label:
            return cell.column_letter
    raise AssertionError(f"no column {label!r}")


def edit(path: Path, change) -> Path:
    """Open a workbook with openpyxl, apply `change(ws)`, save it in place."""
    wb = load_workbook(path)
    change(wb.active)
    wb.save(path)
    return path


def reason(path: Path) -> WorkbookError:
    with pytest.raises(WorkbookError) as info:
        read_workbook(path)
    return info.value


# ---------------------------------------------------------------- the template


def test_district_template_has_the_district_then_its_wards(tmp_path):
    ws = load_workbook(template(tmp_path)).active
    assert ws.title == SHEET
    assert ws["A1"].value == "BÁO CÁO CÔNG TÁC NHÂN ĐẠO"
    assert (ws["A2"].value, ws["B2"].value, ws["B2"].number_format) == (
        "Mã đơn vị báo cáo",
        "492",
        "@",
    )
    assert (ws["A3"].value, ws["B3"].value) == ("Tên đơn vị", "Quận Hải Châu")
    assert (ws["A4"].value, ws["B4"].value) == ("Kỳ báo cáo", "2024M09")
    assert (ws["A5"].value, ws["B5"].value) == ("Chương trình", "general")
    header = [c.value for c in ws[HEADER_ROW]]
    assert header[:5] == [
        "Mã đơn vị",
        "Tên đơn vị",
        "Tổng giá trị trợ giúp (đồng)",
        "Vận động quỹ (đồng)",
        "Suất quà",
    ]
    assert header[-1] == "Ghi chú"
    assert "Đơn vị máu" in header
    assert "Tỷ lệ đạt kế hoạch (%)" not in header
    units = [(ws.cell(r, 1).value, ws.cell(r, 2).value) for r in range(9, ws.max_row + 1)]
    assert units == [("492", "Quận Hải Châu"), *HAI_CHAU_WARDS]
    assert ws["A9"].number_format == "@" and ws["A10"].number_format == "@"
    assert ws["G12"].number_format == "@"  # value cells keep "1.085" as typed
    assert ws.freeze_panes == "C9"
    assert ws.column_dimensions["B"].width >= 24


def test_ward_template_has_one_row(tmp_path):
    ws = load_workbook(template(tmp_path, "20245")).active
    assert ws["B2"].value == "20245"
    assert ws.max_row == HEADER_ROW + 1
    assert (ws["A9"].value, ws["B9"].value) == ("20245", "Phường Hòa Thuận Tây")


@pytest.mark.parametrize(
    ("unit", "period", "message"),
    [
        ("999", "2024M09", "unknown administrative unit"),
        ("492", "2024-09", "not a period code"),
        ("492", "2025M09", "does not exist on 2025-09-30"),  # districts ended on 30 June 2025
    ],
)
def test_template_refuses_unknown_units_and_periods(tmp_path, unit, period, message):
    with pytest.raises(ValueError, match=message):
        write_template(unit, period, tmp_path / "x.xlsx")


def test_template_refuses_an_unknown_program(tmp_path):
    with pytest.raises(ValueError, match="unknown program"):
        write_template("492", "2024M09", tmp_path / "x.xlsx", program_code="nope")


# ---------------------------------------------------------------- round trip


def fill(ws) -> None:
    """What a district clerk types, including the awkward cases."""
    ws["C9"] = "13,8 tỷ đồng"
    ws["G9"] = "1.085"
    ws["R9"] = "Lễ hội Xuân hồng"
    ws["E10"] = "hơn 200"
    ws["I10"] = 42  # a number typed into a text-formatted cell is still stored as a number
    ws["C10"] = 109.5
    ws["K10"] = "=2+3"  # a formula: openpyxl stores no cached value
    ws["N11"] = "   "  # spaces only: no figure
    ws["C15"] = "=cmd|' /C calc'!A0"
    ws["C15"].data_type = "s"  # text that looks like a formula stays text
    ws["D15"] = date(2024, 9, 1)
    ws["B19"] = "Phường Mới Lập"  # no code: the loader resolves the name
    ws["E19"] = "7"
    ws["R20"] = "chỉ có ghi chú"  # a row without figures is skipped


def test_filled_template_reads_back_as_text(tmp_path):
    path = edit(template(tmp_path), fill)
    district, first, ward = "Quận Hải Châu", "Phường Thanh Bình", "Phường Hòa Thuận Tây"
    xuan_hong = "Lễ hội Xuân hồng"
    assert read_workbook(path) == [
        Report(
            sheet=SHEET,
            unit_code="492",
            period="2024M09",
            program_code="general",
            rows=[
                Cell(SHEET, 9, "C", "492", district, "aid_value_vnd", "13,8 tỷ đồng", xuan_hong),
                Cell(SHEET, 9, "G", "492", district, "blood_units", "1.085", xuan_hong),
                Cell(SHEET, 10, "C", "20227", first, "aid_value_vnd", "109.5", ""),
                Cell(SHEET, 10, "E", "20227", first, "gift_packages", "hơn 200", ""),
                # calamine reads every number as a float (42 -> 42.0); it comes back as "42"
                Cell(SHEET, 10, "I", "20227", first, "blood_donors", "42", ""),
                # K10 "=2+3" is absent: openpyxl writes <f>2+3</f><v/> with no cached value and
                # calamine returns "" for it (neither the formula text nor 5), so it is no figure.
                Cell(SHEET, 15, "C", "20245", ward, "aid_value_vnd", "=cmd|' /C calc'!A0", ""),
                Cell(SHEET, 15, "D", "20245", ward, "funds_raised_vnd", "2024-09-01", ""),
                Cell(SHEET, 19, "E", "", "Phường Mới Lập", "gift_packages", "7", ""),
            ],
        )
    ]


def with_cached_formula_value(path: Path, cell: str, cached: str) -> Path:
    """Rewrite the sheet XML as Excel would save it: the formula plus its last computed value."""
    out = path.with_name("cached.xlsx")
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                # an empty value: <v/> (openpyxl on the standard library) or <v></v> (on lxml)
                pattern = rf'(<c r="{cell}"[^>]*>\s*<f>[^<]*</f>)\s*(?:<v\s*/>|<v></v>)'.encode()
                data, count = re.subn(pattern, rb"\1<v>" + cached.encode() + b"</v>", data)
                assert count == 1
            zout.writestr(item, data)
    return out


def test_formula_cells_give_their_cached_value(tmp_path):
    path = edit(template(tmp_path), lambda ws: ws.__setitem__("K10", "=2+3"))
    path = with_cached_formula_value(path, "K10", "5")
    [report] = read_workbook(path)
    assert [(c.row, c.column, c.indicator_code, c.value) for c in report.rows] == [
        (10, "K", "health_insurance_cards", "5")
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1085.0, "1085"),
        (109.5, "109.5"),
        (-0.0, "0"),
        (1e-05, "0.00001"),
        (1e20, "100000000000000000000"),
        (42, "42"),
        (True, "TRUE"),
        (date(2024, 9, 1), "2024-09-01"),
        (datetime(2024, 9, 1, 10, 30), "2024-09-01T10:30:00"),
        ("  1.085 ", "  1.085 "),
        (None, ""),
    ],
)
def test_cell_text(value, text):
    assert excel_form.cell_text(value) == text


def folded_workbook(path: Path, amount_label: str = "tong gia tri tro giup (VND)") -> Path:
    """A hand-made report: labels without diacritics, upper case, NFD, odd spacing, colons."""
    wb = Workbook()
    wb.active.title = "Sheet1"
    wb.active["A1"] = "Hướng dẫn: sheet này không phải báo cáo"  # no header, no table: ignored
    ws = wb.create_sheet("Phường HTT")
    ws["A1"] = "Ma don vi bao cao:"
    ws["B1"] = "20245"
    ws["A2"] = nfd("Kỳ  báo cáo") + " :"
    ws["B2"] = "2024M09"
    ws["A3"] = "CHUONG TRINH"
    ws["C3"] = nfd("Tết vì người nghèo và nạn nhân chất độc da cam")  # name, one cell further
    labels = ["STT", "ma  don vi", nfd("Tên đơn vị"), amount_label, "blood_units"]
    ws.append([])
    ws.append([*labels, nfd("Suất quà"), "Ghi chu:"])
    ws.append([1, "20245", "Phường Hòa Thuận Tây", "624.845.000", None, 3, "ok"])
    wb.save(path)
    return path


def test_labels_match_without_diacritics_and_in_nfd(tmp_path):
    [report] = read_workbook(folded_workbook(tmp_path / "folded.xlsx"))
    assert (report.sheet, report.unit_code, report.period, report.program_code) == (
        "Phường HTT",
        "20245",
        "2024M09",
        "tet",
    )
    ward = "Phường Hòa Thuận Tây"
    assert report.rows == [
        Cell("Phường HTT", 6, "D", "20245", ward, "aid_value_vnd", "624.845.000", "ok"),
        Cell("Phường HTT", 6, "F", "20245", ward, "gift_packages", "3", "ok"),
    ]


def test_label_key_folds_everything():
    key = excel_form.label_key
    assert key(nfd("Kỳ báo cáo")) == key("Kỳ báo cáo") == key("KY  BAO CAO :") == "ky bao cao"
    assert key("Tổng giá trị trợ giúp(đồng)") == "tong gia tri tro giup (dong)"


# ---------------------------------------------------------------- rejected workbooks


def test_truncated_workbook_is_unreadable(tmp_path):
    path = template(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    error = reason(path)
    assert error.reason_code == "unreadable_file"
    assert "truncated or damaged" in str(error)


def test_html_page_saved_as_xlsx_is_unreadable(tmp_path):
    path = tmp_path / "bao_cao.xlsx"
    path.write_text("<!DOCTYPE html>\n<html><body><table><tr><td>1.085</td></tr></table>")
    error = reason(path)
    assert error.reason_code == "unreadable_file"
    assert "looks like an HTML page, not an Excel workbook" in str(error)
    assert "HTML" in error.detail_vi


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), ".xls"),
        (b"reporting_unit_code,period\n492,2024M09\n", "text file"),
    ],
)
def test_other_non_workbooks_are_described(tmp_path, content, expected):
    path = tmp_path / "x.xlsx"
    path.write_bytes(content)
    error = reason(path)
    assert (error.reason_code, expected in error.detail) == ("unreadable_file", True)


def test_zip_that_is_not_a_workbook_is_unreadable(tmp_path):
    path = tmp_path / "x.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
    assert "OpenDocument" in reason(path).detail


def test_zip_bomb_is_refused_before_decompressing(tmp_path):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        chunk = bytes(1 << 20)
        with zf.open("xl/worksheets/sheet1.xml", "w") as member:
            for _ in range(300):  # 300 MB of zeros, about 1.4 MB compressed
                member.write(chunk)
    assert path.stat().st_size < 2 * 1024 * 1024
    error = reason(path)
    assert error.reason_code == "suspicious_file"
    assert "xl/worksheets/sheet1.xml" in str(error) and "zip bomb" in str(error)


def test_zip_directory_that_understates_a_size_is_unreadable(tmp_path):
    """A directory claiming a small member must not let a big one through: the CRC fails."""
    path = template(tmp_path)
    data = bytearray(path.read_bytes())
    name = b"xl/worksheets/sheet1.xml"
    entry = data.index(b"PK\x01\x02")  # the first central directory entry
    while data[entry + 46 : entry + 46 + len(name)] != name:
        entry = data.index(b"PK\x01\x02", entry + 4)
    data[entry + 24 : entry + 28] = (100).to_bytes(4, "little")  # uncompressed size: 100 bytes
    path.write_bytes(bytes(data))
    error = reason(path)
    assert error.reason_code == "unreadable_file"
    assert "xl/worksheets/sheet1.xml" in str(error) and "damaged" in str(error)


def test_zip_limits_on_size_and_members(tmp_path):
    path = template(tmp_path)
    excel_form.check_zip_safety(path)  # a real template is fine
    with pytest.raises(WorkbookError, match="expands to") as info:
        excel_form.check_zip_safety(path, max_total=1000)
    assert info.value.reason_code == "suspicious_file"
    with pytest.raises(WorkbookError, match="zip members") as info:
        excel_form.check_zip_safety(path, max_members=3)
    assert info.value.reason_code == "suspicious_file"


def test_unknown_column_label_is_wrong_columns(tmp_path):
    def rename(ws):
        ws["D8"] = "Vận động quỹ (triệu đồng)"  # another scale is not the same indicator
        ws["G9"] = "1.085"

    error = reason(edit(template(tmp_path), rename))
    assert (error.reason_code, error.sheet, error.row, error.column) == (
        "wrong_columns",
        SHEET,
        8,
        "D",
    )
    message = str(error)
    assert message.startswith("sheet 'Báo cáo', row 8, column D: unknown column label(s) D ")
    assert "'Vận động quỹ (triệu đồng)'" in message
    assert "Tổng giá trị trợ giúp (đồng)" in message  # the expected labels are listed


def test_repeated_indicator_column_is_wrong_columns(tmp_path):
    def repeat(ws):
        ws["D8"] = "aid_value_vnd"  # the same indicator as column C
        ws["G9"] = "1.085"

    error = reason(edit(template(tmp_path), repeat))
    assert (error.reason_code, error.column) == ("wrong_columns", "D")


def test_header_without_a_table_is_wrong_columns(tmp_path):
    def drop_table(ws):
        ws.delete_rows(HEADER_ROW, 20)

    error = reason(edit(template(tmp_path), drop_table))
    assert (error.reason_code, error.sheet) == ("wrong_columns", SHEET)
    assert "table header row was not found" in str(error)


def test_missing_period_cell_is_missing_header(tmp_path):
    def drop_period(ws):
        ws["G9"] = "1.085"
        ws["A4"] = None
        ws["B4"] = None
        ws["C4"] = None

    error = reason(edit(template(tmp_path), drop_period))
    assert (error.reason_code, error.sheet, error.row) == ("missing_header", SHEET, None)
    assert "'Kỳ báo cáo' is missing" in str(error)


def test_empty_period_value_is_missing_header(tmp_path):
    def blank_period(ws):
        ws["G9"] = "1.085"
        ws["B4"] = None
        ws["C4"] = None

    error = reason(edit(template(tmp_path), blank_period))
    assert (error.reason_code, error.row, error.column) == ("missing_header", 4, "B")
    assert str(error).startswith("sheet 'Báo cáo', row 4, column B: ")


def test_blank_template_has_no_rows(tmp_path):
    error = reason(template(tmp_path))
    assert (error.reason_code, error.sheet) == ("no_rows", SHEET)


def test_workbook_without_a_report_sheet_has_no_rows(tmp_path):
    path = tmp_path / "other.xlsx"
    wb = Workbook()
    wb.active["A1"] = "Danh sách cán bộ"
    wb.save(path)
    error = reason(path)
    assert (error.reason_code, error.sheet) == ("no_rows", None)


def test_errors_survive_pickling():
    error = WorkbookError("wrong_columns", "bad", "Báo cáo", 8, "D", detail_vi="sai")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason_code, copy.sheet, copy.row, copy.column, copy.detail_vi) == (
        "wrong_columns",
        "Báo cáo",
        8,
        "D",
        "sai",
    )
    assert str(copy) == str(error) == "sheet 'Báo cáo', row 8, column D: bad (wrong_columns)"


def test_a_template_after_the_reform_uses_the_new_map(tmp_path):
    """From 1 July 2025 code 20242 is Phường Hải Châu (it was Phường Phước Ninh before)."""
    import openpyxl

    before = excel_form.write_template("20242", "2025M06", tmp_path / "before.xlsx")
    after = excel_form.write_template("20242", "2025M09", tmp_path / "after.xlsx")
    names = [
        openpyxl.load_workbook(path).worksheets[0].cell(9, 2).value for path in (before, after)
    ]
    assert names == ["Phường Phước Ninh", "Phường Hải Châu"]
    province = excel_form.write_template("48", "2025M09", tmp_path / "danang.xlsx")
    sheet = openpyxl.load_workbook(province).worksheets[0]
    wards = [sheet.cell(r, 2).value for r in range(10, sheet.max_row + 1)]
    assert "Phường Hải Châu" in wards and "Phường Hòa Cường" in wards
    assert "Phường Phước Ninh" not in wards
