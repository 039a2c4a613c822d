"""The province's Excel form (.xlsx): write the blank template, read filled-in workbooks.

Reading never evaluates anything: figures come back as the text the user typed (Vietnamese
number strings included) and the loader parses them later. Labels are matched loosely: with or
without diacritics, any case, NFC or NFD, extra spaces and trailing colons ignored.
"""

from __future__ import annotations

import csv
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum

from nhandao import reference, settings
from nhandao.ingest.problems import SubmissionError
from nhandao.periods import parse_period
from nhandao.text import fold

__all__ = [
    "MAX_COMPRESSION_RATIO",
    "MAX_MEMBERS",
    "MAX_UNCOMPRESSED_BYTES",
    "Cell",
    "Indicator",
    "Report",
    "WorkbookError",
    "cell_text",
    "check_zip_safety",
    "indicators",
    "label_key",
    "read_workbook",
    "write_template",
]

SHEET_TITLE = "Báo cáo"
TITLE = "BÁO CÁO CÔNG TÁC NHÂN ĐẠO"
INSTRUCTION = (
    "Hướng dẫn: Ghi số theo cách viết thông thường: 1.085; 109,5; 13,8 tỷ đồng; "
    "có thể ghi 'hơn', 'gần', 'khoảng' trước số. Không sửa các ô tiêu đề."
)
LABEL_UNIT_CODE = "Mã đơn vị báo cáo"
LABEL_UNIT_NAME = "Tên đơn vị"
LABEL_PERIOD = "Kỳ báo cáo"
LABEL_PROGRAM = "Chương trình"
COLUMN_UNIT_CODE = "Mã đơn vị"
COLUMN_UNIT_NAME = "Tên đơn vị"
COLUMN_NOTE = "Ghi chú"
TEXT_FORMAT = "@"
TEMPLATE_SKIPS = frozenset({"target_attainment_pct"})

# Zip-bomb limits, checked on the zip directory before calamine decompresses anything.
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
MAX_COMPRESSION_RATIO = 100
MAX_MEMBERS = 10_000
RATIO_MIN_BYTES = 1024 * 1024  # a member smaller than this cannot hurt, whatever its ratio

# Unit shown after an indicator's name in the template, and the suffixes accepted when reading.
UNIT_SUFFIX = {"vnd": "đồng", "percent": "%"}
SUFFIX_ALIASES = {
    "vnd": ("đồng", "vnđ", "vnd", "đ"),
    "percent": ("%",),
    "people": ("người", "lượt người", "lượt"),
    "households": ("hộ",),
}

HEADER_ALIASES = {
    "unit_code": ("Mã đơn vị báo cáo", "Mã đơn vị", "Mã ĐV", "Mã đơn vị BC"),
    "unit_name": ("Tên đơn vị", "Tên đơn vị báo cáo", "Đơn vị báo cáo", "Đơn vị"),
    "period": ("Kỳ báo cáo", "Kỳ", "Kỳ BC", "Mã kỳ báo cáo", "Thời kỳ"),
    "program": ("Chương trình", "Mã chương trình", "Chương trình / chiến dịch"),
}
COLUMN_ALIASES = {
    "unit_code": ("Mã đơn vị", "Mã đơn vị báo cáo", "Mã ĐV", "reporting_unit_code"),
    "unit_name": ("Tên đơn vị", "Đơn vị", "Tên ĐV", "reporting_unit_name"),
    "note": ("Ghi chú", "note"),
    "ignored": ("STT", "TT", "Số TT", "Số thứ tự"),
}


@dataclass(frozen=True)
class Indicator:
    code: str
    name_vi: str
    name_en: str
    measure_unit: str

    @property
    def label(self) -> str:
        """The template's column label, e.g. 'Tổng giá trị trợ giúp (đồng)'."""
        suffix = UNIT_SUFFIX.get(self.measure_unit)
        return f"{self.name_vi} ({suffix})" if suffix else self.name_vi

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the indicator answers to: its code, its names, the template's label and
        the label with any unit the reader accepts ('Tổng giá trị trợ giúp (vnđ)')."""
        suffixed = [f"{self.name_vi} ({s})" for s in SUFFIX_ALIASES.get(self.measure_unit, ())]
        return (self.code, self.name_vi, self.name_en, self.label, *suffixed, *self.alternatives)

    @property
    def alternatives(self) -> tuple[str, ...]:
        """Each kind a name of alternatives names ('Nhà chữ thập đỏ / đại đoàn kết / tình
        thương': 'Nhà chữ thập đỏ', 'Nhà đại đoàn kết', 'Nhà tình thương'), as districts write."""
        first, *others = (part.strip() for part in self.name_vi.split("/"))
        if not others:
            return ()
        head = first.split()[0]
        return (first, *(f"{head} {other}" for other in others))


@dataclass(frozen=True)
class Cell:
    sheet: str
    row: int
    column: str
    reporting_unit_code: str
    reporting_unit_name: str
    indicator_code: str
    value: str
    note: str


@dataclass(frozen=True)
class Report:
    sheet: str
    unit_code: str
    period: str
    program_code: str
    rows: list[Cell]


class WorkbookError(Exception):
    """A workbook rejected whole; `reason_code` says why, `detail` (en) and `detail_vi` say how."""

    def __init__(
        self,
        reason_code: str,
        detail: str,
        sheet: str | None = None,
        row: int | None = None,
        column: str | None = None,
        *,
        detail_vi: str | None = None,
    ) -> None:
        super().__init__(reason_code, detail)
        self.reason_code = reason_code
        self.detail = detail
        self.detail_vi = detail_vi or detail
        self.sheet = sheet
        self.row = row
        self.column = column

    def location(self) -> str:
        """'sheet 'Báo cáo', row 8, column D' (the parts that are known)."""
        parts = [f"sheet {self.sheet!r}"] if self.sheet is not None else []
        parts += [f"row {self.row}"] if self.row is not None else []
        parts += [f"column {self.column}"] if self.column is not None else []
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.location()
        prefix = f"{where}: " if where else ""
        return f"{prefix}{self.detail} ({self.reason_code})"

    def __reduce__(self):  # keep the location when pickled (Airflow, multiprocessing)
        args = (self.reason_code, self.detail, self.sheet, self.row, self.column)
        return (_rebuild_error, (args, self.detail_vi))


def _rebuild_error(args: tuple, detail_vi: str) -> WorkbookError:
    return WorkbookError(*args, detail_vi=detail_vi)


# ---------------------------------------------------------------- reference data and labels


@cache
def indicators(seeds_dir: Path | None = None) -> tuple[Indicator, ...]:
    """Every indicator of seeds/indicators.csv, in file order."""
    path = (seeds_dir or settings.seeds_dir()) / "indicators.csv"
    with open(path, newline="", encoding="utf-8") as f:
        return tuple(
            Indicator(r["indicator_code"], r["name_vi"], r["name_en"], r["measure_unit"])
            for r in csv.DictReader(f)
        )


@cache
def _programs() -> dict[str, str]:
    """Program code -> Vietnamese name."""
    with open(settings.seeds_dir() / "programs.csv", newline="", encoding="utf-8") as f:
        return {r["program_code"]: r["name_vi"] for r in csv.DictReader(f)}


def label_key(text: str) -> str:
    """Fold a label for matching: NFC, no diacritics, lower case, single spaces, no trailing ':'."""
    key = fold(unicodedata.normalize("NFC", text)).casefold()
    key = re.sub(r"\s+", " ", key).strip().rstrip(":*").strip()
    key = re.sub(r"\s*\(\s*", " (", key)
    return re.sub(r"\s*\)", ")", key).strip()


def _alias_map(aliases: dict[str, Sequence[str]]) -> dict[str, str]:
    return {label_key(alias): kind for kind, names in aliases.items() for alias in names}


@cache
def _header_keys() -> dict[str, str]:
    return _alias_map(HEADER_ALIASES)


@cache
def _column_keys() -> dict[str, str]:
    """Folded table column label -> 'unit_code', 'unit_name', 'note', 'ignored' or 'ind:<code>'."""
    keys = _alias_map(COLUMN_ALIASES)
    for ind in indicators():
        keys.update({label_key(name): f"ind:{ind.code}" for name in ind.names})
    return keys


def _expected_columns() -> list[str]:
    labels = [COLUMN_UNIT_CODE, COLUMN_UNIT_NAME]
    return labels + [ind.label for ind in indicators()] + [COLUMN_NOTE, "STT"]


# ---------------------------------------------------------------- writing the template


def _template_units(unit_code: str, period: str) -> list[reference.AdminUnit]:
    """The unit itself, then the units directly under it, as they were on the period's last day
    (a unit reports for a period if it exists at its end)."""
    end = parse_period(period).end  # ValueError for a bad period code
    if not any(u.code == unit_code.strip() for u in reference.admin_unit_versions()):
        raise ValueError(f"unknown administrative unit code: {unit_code!r}")
    unit = reference.unit_on(unit_code.strip(), end)
    if unit is None:
        raise ValueError(
            f"unit {unit_code} does not exist on {end.isoformat()}, the last day of period {period}"
        )
    if unit.level == "ward":
        return [unit]
    return [unit, *reference.children(unit.code, end)]


def _write_pair(ws: Worksheet, row: int, label: str, value: str, extra: str = "") -> None:
    ws.cell(row, 1, label).font = Font(bold=True)
    cell = ws.cell(row, 2, value)
    cell.number_format = TEXT_FORMAT
    if extra:
        ws.cell(row, 3, extra).font = Font(italic=True, color="666666")


def _write_header(ws: Worksheet, unit: reference.AdminUnit, period: str, program: str) -> int:
    """Title, label/value pairs and the instruction; returns the next free row."""
    ws.cell(1, 1, TITLE).font = Font(bold=True, size=14)
    p = parse_period(period)
    span = f"từ {p.start:%d/%m/%Y} đến {p.end:%d/%m/%Y}"
    _write_pair(ws, 2, LABEL_UNIT_CODE, unit.code)
    _write_pair(ws, 3, LABEL_UNIT_NAME, unit.name)
    _write_pair(ws, 4, LABEL_PERIOD, period, span)
    _write_pair(ws, 5, LABEL_PROGRAM, program, _programs().get(program, ""))
    ws.cell(6, 1, INSTRUCTION).font = Font(italic=True)
    return 8


def _write_table(
    ws: Worksheet, top: int, units: Sequence[reference.AdminUnit], inds: Sequence[Indicator]
) -> None:
    """Header row at `top`, one text-formatted row per unit below it."""
    labels = [COLUMN_UNIT_CODE, COLUMN_UNIT_NAME, *(i.label for i in inds), COLUMN_NOTE]
    fill = PatternFill("solid", fgColor="DDEBF7")
    for col, label in enumerate(labels, start=1):
        cell = ws.cell(top, col, label)
        cell.font = Font(bold=True)
        cell.fill = fill
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
    for row, unit in enumerate(units, start=top + 1):
        ws.cell(row, 1, unit.code)
        ws.cell(row, 2, unit.name)
        for col in range(1, len(labels) + 1):
            ws.cell(row, col).number_format = TEXT_FORMAT
    ws.row_dimensions[top].height = 48
    ws.freeze_panes = ws.cell(top + 1, 3).coordinate
    _set_widths(ws, labels, units)


def _set_widths(ws: Worksheet, labels: Sequence[str], units: Sequence[reference.AdminUnit]) -> None:
    ws.column_dimensions["A"].width = 20
    ws.column_dimensions["B"].width = max(24, *(len(u.name) + 2 for u in units))
    for col, label in enumerate(labels[2:], start=3):
        ws.column_dimensions[get_column_letter(col)].width = min(24, max(14, len(label) // 2 + 4))
    ws.column_dimensions[get_column_letter(len(labels))].width = 30


def write_template(unit_code: str, period: str, out: Path, program_code: str = "general") -> Path:
    """Write the blank form `unit_code` fills in for `period`; ValueError for unknown inputs."""
    units = _template_units(unit_code, period)
    if program_code not in reference.program_codes():
        raise ValueError(f"unknown program code: {program_code!r}")
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET_TITLE
    top = _write_header(ws, units[0], period.strip(), program_code)
    inds = [i for i in indicators() if i.code not in TEMPLATE_SKIPS]
    _write_table(ws, top, units, inds)
    wb.properties.creator = "nhandao"
    wb.properties.title = f"{TITLE} {units[0].code} {period}"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


# ---------------------------------------------------------------- file checks


def _describe_bytes(head: bytes) -> tuple[str, str]:
    """What a file that is not a zip archive looks like (en, vi), for the rejection message."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not head:
        return "is empty", "tệp rỗng"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return (
            "looks like an old Excel 97-2003 .xls file or a password-protected workbook, "
            "not an .xlsx workbook",
            "có vẻ là tệp Excel 97-2003 (.xls) hoặc tệp có mật khẩu; hãy lưu lại dạng .xlsx",
        )
    if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text:
        return (
            "looks like an HTML page, not an Excel workbook",
            "có vẻ là trang web (HTML), không phải tệp Excel",
        )
    if text.startswith(b"<?xml"):
        return "looks like an XML file, not an .xlsx workbook", "có vẻ là tệp XML, không phải .xlsx"
    if head.startswith(b"%PDF"):
        return "looks like a PDF document, not an Excel workbook", "có vẻ là tệp PDF"
    if head.startswith(b"PK"):
        return (
            "starts like an .xlsx (zip) file but is truncated or damaged",
            "tệp .xlsx bị cắt cụt hoặc bị hỏng",
        )
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "is not a zip archive, so not an .xlsx workbook", "không phải tệp .xlsx"
    return (
        "looks like a text file (CSV?), not an Excel workbook",
        "có vẻ là tệp văn bản (CSV?), không phải tệp Excel",
    )


def _unreadable(en: str, vi: str) -> WorkbookError:
    return WorkbookError("unreadable_file", en, detail_vi=vi)


def _open_zip(path: Path) -> zipfile.ZipFile:
    """Open the zip container, or raise unreadable_file saying what the file looks like."""
    try:
        with open(path, "rb") as f:
            head = f.read(2048)
    except OSError as exc:
        raise _unreadable(f"cannot read the file: {exc}", f"Không đọc được tệp: {exc}") from exc
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        en, vi = _describe_bytes(head)
        raise _unreadable(f"the file {en}", f"Không đọc được tệp: {vi}") from exc


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def _check_directory(
    infos: Sequence[zipfile.ZipInfo], max_total: int, max_ratio: float, max_members: int
) -> None:
    """Refuse a zip whose directory promises too many members or too many bytes."""
    if len(infos) > max_members:
        raise WorkbookError(
            "suspicious_file",
            f"the workbook holds {len(infos)} zip members (limit {max_members})",
            detail_vi=f"Tệp chứa {len(infos)} thành phần nén (tối đa {max_members}): nghi tệp độc",
        )
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= RATIO_MIN_BYTES and ratio > max_ratio:
            raise WorkbookError(
                "suspicious_file",
                f"zip member {info.filename!r} expands {ratio:.0f}x "
                f"({_mb(info.compress_size)} to {_mb(info.file_size)}; limit {max_ratio:g}x): "
                "a zip bomb?",
                detail_vi=f"Thành phần {info.filename!r} giải nén gấp {ratio:.0f} lần "
                f"(tối đa {max_ratio:g} lần): nghi tệp độc (zip bomb)",
            )
    total = sum(info.file_size for info in infos)
    if total > max_total:
        raise WorkbookError(
            "suspicious_file",
            f"the workbook expands to {_mb(total)} (limit {_mb(max_total)})",
            detail_vi=f"Tệp giải nén ra {_mb(total)} (tối đa {_mb(max_total)}): nghi tệp độc",
        )


def _verify_members(zf: zipfile.ZipFile) -> None:
    """Decompress every member in bounded chunks: sizes and CRCs must match the directory."""
    for info in zf.infolist():
        try:
            with zf.open(info) as member:
                while member.read(1 << 20):
                    pass
        except RuntimeError as exc:  # encrypted member
            raise _unreadable(
                f"zip member {info.filename!r} is password-protected",
                f"Tệp có mật khẩu, không đọc được ({info.filename})",
            ) from exc
        except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError, zlib.error) as exc:
            raise _unreadable(
                f"the workbook is damaged: zip member {info.filename!r} cannot be read ({exc})",
                f"Tệp Excel bị hỏng: không giải nén được {info.filename!r}",
            ) from exc


def check_zip_safety(
    path: Path,
    *,
    max_total: int = MAX_UNCOMPRESSED_BYTES,
    max_ratio: float = MAX_COMPRESSION_RATIO,
    max_members: int = MAX_MEMBERS,
) -> None:
    """Refuse zip bombs (suspicious_file) and damaged or non-zip files (unreadable_file).

    The directory is checked before anything is decompressed; then each member is streamed
    once, bounded by its declared size, so a directory that lies fails its CRC check.
    """
    with _open_zip(Path(path)) as zf:
        _check_directory(zf.infolist(), max_total, max_ratio, max_members)
        _verify_members(zf)


def _check_is_xlsx(path: Path) -> None:
    """A zip archive must hold an Excel workbook, not an .ods or a Word document."""
    with _open_zip(path) as zf:
        names = set(zf.namelist())
        mimetype = zf.read("mimetype")[:100] if "mimetype" in names else b""
    if "xl/workbook.xml" in names:
        return
    if b"opendocument.spreadsheet" in mimetype:
        en, vi = "an OpenDocument spreadsheet (.ods)", "bảng tính OpenDocument (.ods)"
    elif "word/document.xml" in names:
        en, vi = "a Word document", "văn bản Word"
    else:
        en, vi = "a zip archive", "tệp nén zip"
    raise _unreadable(
        f"the file looks like {en}, not an .xlsx workbook",
        f"Tệp có vẻ là {vi}, không phải sổ tính Excel (.xlsx)",
    )


# ---------------------------------------------------------------- reading cells


def cell_text(value: object) -> str:
    """A calamine cell as text: 1085.0 -> '1085', 109.5 -> '109.5', dates ISO, None -> ''."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return format(Decimal(repr(value)), "f")  # shortest round trip, never 1e-05
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


Grid = list[list[object]]


def _at(grid: Grid, row: int, col: int) -> str:
    """Text of a 0-based grid position, '' outside the grid, surrounding spaces stripped."""
    if row >= len(grid) or col >= len(grid[row]):
        return ""
    return cell_text(grid[row][col]).strip()


def _find_table_header(grid: Grid) -> int | None:
    """Index of the first row with a unit column label and at least one indicator label."""
    keys = _column_keys()
    for r, row in enumerate(grid):
        kinds = {keys.get(label_key(cell_text(v))) for v in row if cell_text(v).strip()}
        has_unit = bool(kinds & {"unit_code", "unit_name"})
        if has_unit and any(k and k.startswith("ind:") for k in kinds):
            return r
    return None


@dataclass(frozen=True)
class _HeaderValue:
    value: str
    row: int  # 1-based
    column: str


def _read_header(grid: Grid, stop: int) -> dict[str, _HeaderValue]:
    """Label/value pairs above row `stop`: the value is the first non-empty cell to the right."""
    found: dict[str, _HeaderValue] = {}
    keys = _header_keys()
    for r in range(min(stop, len(grid))):
        for c, raw in enumerate(grid[r]):
            kind = keys.get(label_key(cell_text(raw)))
            if kind is None or kind in found:
                continue
            vc = next((i for i in range(c + 1, len(grid[r])) if _at(grid, r, i)), c + 1)
            found[kind] = _HeaderValue(_at(grid, r, vc), r + 1, get_column_letter(vc + 1))
    return found


@dataclass(frozen=True)
class _Columns:
    unit_code: int | None
    unit_name: int | None
    note: int | None
    indicators: dict[int, str]  # 0-based column -> indicator code


def _map_columns(grid: Grid, header: int, sheet: str) -> _Columns:
    """Classify the table header's labels; unknown or repeated labels are wrong_columns."""
    keys = _column_keys()
    kinds: dict[str, list[int]] = {}
    unknown: list[str] = []
    for c, raw in enumerate(grid[header]):
        label = cell_text(raw).strip()
        if not label:
            continue
        kind = keys.get(label_key(label))
        if kind is None:
            unknown.append(f"{get_column_letter(c + 1)} {label!r}")
        elif kind != "ignored":
            kinds.setdefault(kind, []).append(c)
    if unknown:
        _wrong_columns(sheet, header, unknown)
    repeated = {k: cols for k, cols in kinds.items() if len(cols) > 1}
    if repeated:
        kind, cols = next(iter(repeated.items()))
        letters = ", ".join(get_column_letter(c + 1) for c in cols)
        raise WorkbookError(
            "wrong_columns",
            f"columns {letters} have the same meaning ({kind.removeprefix('ind:')})",
            sheet,
            header + 1,
            get_column_letter(cols[1] + 1),
            detail_vi=f"Các cột {letters} trùng nghĩa ({kind.removeprefix('ind:')})",
        )
    first = {k: cols[0] for k, cols in kinds.items()}
    inds = {c: k.removeprefix("ind:") for k, c in first.items() if k.startswith("ind:")}
    return _Columns(first.get("unit_code"), first.get("unit_name"), first.get("note"), inds)


def _wrong_columns(sheet: str, header: int, unknown: list[str]) -> None:
    expected = "; ".join(_expected_columns())
    raise WorkbookError(
        "wrong_columns",
        f"unknown column label(s) {', '.join(unknown)}; expected labels: {expected}",
        sheet,
        header + 1,
        unknown[0].split(" ", 1)[0],
        detail_vi=f"Tên cột không đúng mẫu: {', '.join(unknown)}; các cột hợp lệ: {expected}",
    )


def _cells(grid: Grid, header: int, cols: _Columns, sheet: str) -> list[Cell]:
    """One Cell per non-empty indicator cell below the table header."""
    out: list[Cell] = []
    for r in range(header + 1, len(grid)):
        code = _at(grid, r, cols.unit_code) if cols.unit_code is not None else ""
        name = _at(grid, r, cols.unit_name) if cols.unit_name is not None else ""
        note = _at(grid, r, cols.note) if cols.note is not None else ""
        for c, indicator in cols.indicators.items():
            value = _at(grid, r, c)
            if value:
                letter = get_column_letter(c + 1)
                out.append(Cell(sheet, r + 1, letter, code, name, indicator, value, note))
    return out


def _required_header(found: dict[str, _HeaderValue], kind: str, sheet: str) -> str:
    """The value of a required header cell, or missing_header."""
    label = {"unit_code": LABEL_UNIT_CODE, "period": LABEL_PERIOD}[kind]
    if kind not in found:
        raise WorkbookError(
            "missing_header",
            f"the header cell {label!r} is missing",
            sheet,
            detail_vi=f"Thiếu ô tiêu đề '{label}'",
        )
    cell = found[kind]
    if not cell.value:
        raise WorkbookError(
            "missing_header",
            f"the header cell {label!r} has no value",
            sheet,
            cell.row,
            cell.column,
            detail_vi=f"Chưa ghi '{label}' (ô {cell.column}{cell.row})",
        )
    return cell.value


def _program_code(found: dict[str, _HeaderValue]) -> str:
    """The program header as a code: 'general' when absent, a Vietnamese name mapped to its code."""
    value = found["program"].value if "program" in found else ""
    if not value:
        return "general"
    by_name = {label_key(name): code for code, name in _programs().items()}
    return by_name.get(label_key(value), value)


def _parse_sheet(sheet: str, grid: Grid) -> Report | None:
    """The sheet's Report; None for a sheet that is not a report at all."""
    header = _find_table_header(grid)
    found = _read_header(grid, header if header is not None else len(grid))
    has_header = bool(found.keys() & {"unit_code", "period", "program"})
    if header is None and not has_header:
        return None
    if header is None:
        expected = "; ".join(_expected_columns())
        raise WorkbookError(
            "wrong_columns",
            f"the table header row was not found; expected labels: {expected}",
            sheet,
            detail_vi=f"Không tìm thấy dòng tên cột của bảng; các cột hợp lệ: {expected}",
        )
    unit_code = _required_header(found, "unit_code", sheet)
    period = _required_header(found, "period", sheet)
    cells = _cells(grid, header, _map_columns(grid, header, sheet), sheet)
    if not cells:
        raise WorkbookError(
            "no_rows",
            "the report has no figures",
            sheet,
            detail_vi="Báo cáo chưa có số liệu nào",
        )
    return Report(sheet, unit_code, period, _program_code(found), cells)


def _sheet_grids(path: Path) -> list[tuple[str, Grid]]:
    """Every worksheet's cells from A1, as calamine returns them."""
    try:
        with CalamineWorkbook.from_path(str(path)) as wb:
            names = [m.name for m in wb.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
            grids = [(n, wb.get_sheet_by_name(n).to_python(skip_empty_area=False)) for n in names]
    except (CalamineError, OSError, ValueError) as exc:  # ZipError, XmlError, PasswordError
        raise _calamine_failed(exc) from exc
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":  # a Rust panic on a malformed file
            raise
        raise _calamine_failed(exc) from exc
    return grids


def _calamine_failed(exc: BaseException) -> WorkbookError:
    return _unreadable(
        f"the workbook cannot be read: {type(exc).__name__}: {exc}",
        f"Không đọc được sổ tính Excel: {exc}",
    )


def read_workbook(path: Path) -> list[Report]:
    """Every report sheet of a filled-in form; WorkbookError when the file is rejected whole."""
    path = Path(path)
    check_zip_safety(path)
    _check_is_xlsx(path)
    reports = [r for name, grid in _sheet_grids(path) if (r := _parse_sheet(name, grid))]
    if not reports:
        raise WorkbookError(
            "no_rows",
            f"no sheet has the report header ({LABEL_UNIT_CODE!r}, {LABEL_PERIOD!r}) and table",
            detail_vi=f"Không có trang tính nào theo mẫu báo cáo ('{LABEL_UNIT_CODE}', "
            f"'{LABEL_PERIOD}' và bảng số liệu)",
        )
    return reports


# --- a filled-in form as a submission ----------------------------------------------------


@dataclass(frozen=True)
class ExcelContent:
    submitting_unit_code: str
    scope: list[str]
    rows: list[tuple]


def read_submission(path: Path) -> ExcelContent:
    """The form's figures as rows for `incoming`; structural problems raise SubmissionError."""
    try:
        workbook = read_workbook(path)
    except WorkbookError as error:
        raise SubmissionError(
            path.name,
            error.reason_code,
            error.detail,
            row=error.row,
            field=error.column,
            sheet=error.sheet,
            value_vi=error.detail_vi,
        ) from error
    known_codes = {u.code for u in reference.admin_unit_versions()}
    rows: list[tuple] = []
    scope: set[str] = set()
    for report in workbook:
        header = {"sheet": report.sheet, "field": "Mã đơn vị báo cáo"}
        if report.unit_code not in known_codes:
            raise SubmissionError(path.name, "unknown_unit", report.unit_code, **header)
        try:
            period = parse_period(report.period)
        except ValueError as exc:
            raise SubmissionError(
                path.name, "invalid_period", report.period, sheet=report.sheet, field="Kỳ báo cáo"
            ) from exc
        if period.start > date.today():
            raise SubmissionError(
                path.name, "future_period", report.period, sheet=report.sheet, field="Kỳ báo cáo"
            )
        unit = reference.unit_on(report.unit_code, period.end)
        if unit is None:
            raise SubmissionError(path.name, "unit_not_in_period", report.unit_code, **header)
        scope |= {unit.code, *(u.code for u in reference.children(unit.code, period.end))}
        rows.extend(
            (
                cell.sheet,
                cell.row,
                cell.column,
                cell.reporting_unit_code,
                cell.reporting_unit_name,
                report.period,
                cell.indicator_code,
                cell.value,
                "",
                report.program_code,
                cell.note,
            )
            for cell in report.rows
        )
    if not rows:
        raise SubmissionError(path.name, "no_rows")
    return ExcelContent(workbook[0].unit_code, sorted(scope), rows)
