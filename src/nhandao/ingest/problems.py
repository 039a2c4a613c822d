"""What can be wrong with a submission, in Vietnamese and English, and what happened to a file.

`REASONS` is the table of reason codes (a row problem rejects the row, a structural one the whole
file; docs/submission-format.md lists them); `SubmissionError` refuses a whole file, naming the
file, sheet, row and field; `IngestResult` is one file's outcome, as the CLI prints it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nhandao.ingest import resubmission

# why a file is skipped when another process loaded the same content while this one waited
LOADED_ELSEWHERE = "loaded by another process (same sha256)"

# reason code -> (Vietnamese message, English message); %s is the value seen.
REASONS: dict[str, tuple[str, str]] = {
    "unreadable_file": ("Không đọc được tệp: %s", "The file cannot be read: %s"),
    "suspicious_file": ("Tệp bị từ chối vì không an toàn: %s", "The file is refused as unsafe: %s"),
    "unsupported_format": (
        "Định dạng tệp không được hỗ trợ: %s (dùng .csv, biểu mẫu .xlsx, báo cáo .docx/.md/.txt)",
        "Unsupported file format: %s (use .csv, the .xlsx form or a .docx/.md/.txt report)",
    ),
    "wrong_columns": (
        "Tiêu đề cột không đúng mẫu: %s",
        "The column headers do not match the form: %s",
    ),
    "missing_header": (
        "Thiếu thông tin đầu biểu mẫu: %s",
        "A header cell of the form is missing: %s",
    ),
    "malformed_row": ("Dòng không đúng định dạng CSV: %s", "The row is not valid CSV: %s"),
    "no_rows": ("Tệp không có dòng số liệu hợp lệ nào", "The file has no valid figure rows"),
    "missing_value": ("Thiếu giá trị bắt buộc", "A required value is missing"),
    "unknown_unit": (
        "Mã đơn vị '%s' không có trong danh mục đơn vị hành chính",
        "Unit code '%s' is not in the list of administrative units",
    ),
    "unit_not_in_period": (
        "Đơn vị mã '%s' không tồn tại vào ngày cuối của kỳ báo cáo (bản đồ hành chính đã thay đổi"
        " từ 01/7/2025)",
        "Unit code '%s' did not exist on the last day of the period (the administrative map"
        " changed on 1 July 2025)",
    ),
    "unknown_unit_name": (
        "Không tìm thấy đơn vị tên '%s' trong đơn vị gửi báo cáo",
        "No unit named '%s' in the submitting unit",
    ),
    "ambiguous_unit_name": (
        "Tên đơn vị '%s' trùng với nhiều đơn vị; hãy ghi mã đơn vị",
        "Unit name '%s' matches several units; give the unit code",
    ),
    "invalid_period": (
        "Kỳ báo cáo '%s' không hợp lệ (ví dụ đúng: 2024, 2024S1, 2024Q3, 2024M09, 2024YTD09)",
        "Period '%s' is not valid (valid examples: 2024, 2024S1, 2024Q3, 2024M09, 2024YTD09)",
    ),
    "future_period": ("Kỳ báo cáo '%s' chưa bắt đầu", "Period '%s' has not started yet"),
    "target_not_yearly": (
        "Chỉ tiêu kế hoạch giao theo năm: '%s' không phải là một năm",
        "Targets are set per year: '%s' is not a year",
    ),
    "unknown_indicator": (
        "Chỉ tiêu '%s' không có trong danh mục (ghi mã, tên tiếng Việt hoặc tên tiếng Anh của"
        " chỉ tiêu)",
        "Indicator '%s' is not in the list of indicators (give its code, its Vietnamese or its"
        " English name)",
    ),
    "ambiguous_indicator": (
        "Tên chỉ tiêu '%s' khớp với nhiều chỉ tiêu; hãy ghi mã chỉ tiêu",
        "Indicator name '%s' matches several indicators; give the indicator code",
    ),
    "invalid_number": (
        "Giá trị '%s' không phải là số (ví dụ đúng: 1.085; 109,5; 13,8 tỷ đồng; hơn 200)",
        "Value '%s' is not a number (valid examples: 1.085; 109,5; 13,8 tỷ đồng; hơn 200)",
    ),
    "ambiguous_number": (
        "Giá trị '%s' không rõ ràng: dấu chấm ngăn cách hàng nghìn (1.085), dấu phẩy là"
        " thập phân (1,5)",
        "Value '%s' is ambiguous: a point separates thousands (1.085), a comma is the"
        " decimal mark (1,5)",
    ),
    "fraction_not_allowed": (
        "Giá trị '%s' phải là số nguyên cho chỉ tiêu này",
        "Value '%s' must be a whole number for this indicator",
    ),
    "negative_value": ("Giá trị '%s' là số âm", "Value '%s' is negative"),
    "rate_not_total": (
        "Giá trị '%s' là định mức (trên tháng, trên phần…), không phải tổng số",
        "Value '%s' is a rate (per month, per package…), not a total",
    ),
    "currency_on_count": (
        "Giá trị '%s' ghi đơn vị tiền cho một chỉ tiêu không tính bằng tiền",
        "Value '%s' carries a currency for an indicator that is not money",
    ),
    "percent_not_allowed": (
        "Giá trị '%s' ghi theo phần trăm (%) nhưng chỉ tiêu này không tính bằng phần trăm",
        "Value '%s' is a percentage, but this indicator is not measured in percent",
    ),
    "implausible_value": (
        "Giá trị '%s' vượt quá mức hợp lý của chỉ tiêu",
        "Value '%s' is beyond the plausible maximum of the indicator",
    ),
    "invalid_qualifier": (
        "Ghi chú độ chính xác '%s' không hợp lệ (exact, lower_bound, approximate)",
        "Qualifier '%s' is not valid (exact, lower_bound, approximate)",
    ),
    "conflicting_qualifier": (
        "Cột độ chính xác '%s' mâu thuẫn với chữ 'hơn'/'gần'/'khoảng' trong ô giá trị",
        "Qualifier '%s' contradicts the 'hơn'/'gần'/'khoảng' written in the value",
    ),
    "unknown_program": (
        "Chương trình '%s' không có trong danh mục (ghi mã, tên tiếng Việt hoặc tên tiếng Anh"
        " của chương trình)",
        "Program '%s' is not in the list of programs (give its code, its Vietnamese or its"
        " English name)",
    ),
    "ambiguous_program": (
        "Tên chương trình '%s' khớp với nhiều chương trình; hãy ghi mã chương trình",
        "Program name '%s' matches several programs; give the program code",
    ),
    "duplicate_row": (
        "Số liệu '%s' bị lặp trong tệp (cùng đơn vị, kỳ, chỉ tiêu, chương trình)",
        "Figure '%s' is repeated in the file (same unit, period, indicator and program)",
    ),
    # narrative reports (nhandao.ingest.narrative_load): the file's name gives the unit and period
    "narrative_file_name": (
        "Tên tệp báo cáo '%s' không theo quy ước <mã đơn vị>-<kỳ báo cáo>-<tên tùy ý>.docx"
        " (hoặc .txt, .md), ví dụ 492-2024M09-bao-cao.docx: mã đơn vị hành chính, rồi kỳ báo"
        " cáo như 2024M09, 2024Q3, 2024YTD09, 2024S1, 2024",
        "The report's file name '%s' does not follow <unit code>-<period>-<anything>.docx"
        " (or .txt, .md), e.g. 492-2024M09-bao-cao.docx: an administrative unit code, then a"
        " period such as 2024M09, 2024Q3, 2024YTD09, 2024S1, 2024",
    ),
    "unit_not_in_province": (
        "Đơn vị '%s' trong tên tệp không thuộc tỉnh ghi ở đầu tên tệp",
        "Unit '%s' in the file name is not in the province the name starts with",
    ),
    "no_figures": (
        "Không tìm thấy số liệu nào trong văn bản báo cáo (một con số kèm đơn vị: 1.085 đơn vị"
        " máu, 350 suất quà, 120 triệu đồng)",
        "No figure was found in the report's text (a number with its measure word: 1.085 đơn"
        " vị máu, 350 suất quà, 120 triệu đồng)",
    ),
}


class SubmissionError(Exception):
    """A problem that rejects a whole file, located by file, sheet, row and field."""

    def __init__(
        self,
        file: str,
        reason_code: str,
        value: str = "",
        row: int | None = None,
        field: str | None = None,
        sheet: str | None = None,
        value_vi: str | None = None,
    ):
        self.file, self.reason_code, self.value = file, reason_code, value
        self.row, self.field, self.sheet = row, field, sheet
        template_vi, template_en = REASONS[reason_code]
        self.message_vi = template_vi.replace("%s", value_vi or value)
        self.message_en = template_en.replace("%s", value)
        # every row problem, when the file is refused because no row is usable
        self.row_problems: list[tuple] = []
        where = ", ".join(
            part
            for part in (
                f"sheet {sheet}" if sheet else "",
                f"row {row}" if row else "",
                f"field {field}" if field else "",
            )
            if part
        )
        super().__init__(f"{file}{f' ({where})' if where else ''}: {self.message_en}")


@dataclass(frozen=True)
class IngestResult:
    """What happened to one file."""

    path: Path
    status: str  # loaded, skipped, rejected
    file_id: int | None = None
    rows_loaded: int = 0
    rows_rejected: int = 0
    message: str = ""
    report_paths: tuple[Path, ...] = field(default_factory=tuple)
    kind: str = "figures"  # figures or targets (CSV, Excel), narrative (figures read from text)
    # for a file of figures that resends reports: what it changes, keeps and withdraws
    effect: resubmission.Effect | None = None

    def line(self) -> str:
        if self.status == "loaded" and self.kind == "narrative":
            return f"loaded    {self.path.name}: {self.rows_loaded} figures to review"
        if self.status == "loaded":
            extra = f", {self.rows_rejected} row(s) rejected" if self.rows_rejected else ""
            if self.effect and self.effect.resubmissions:
                extra += f"; {self.effect.summary()}"
            return f"loaded    {self.path.name}: {self.rows_loaded} rows{extra}"
        if self.status == "skipped" and self.message == LOADED_ELSEWHERE:
            return f"skipped   {self.path.name}: {LOADED_ELSEWHERE} as file {self.file_id}"
        if self.status == "skipped":
            return (
                f"skipped   {self.path.name}: already loaded (same sha256) as file {self.file_id}"
            )
        return f"rejected  {self.path.name}: {self.message}"

    def details(self, limit: int = 20) -> list[str]:
        """The figures of earlier versions this file keeps or withdraws, one line each."""
        if not self.effect:
            return []
        moved = self.effect.kept + self.effect.withdrawn
        lines = [f"{figure.outcome}: {figure.describe()}" for figure in moved[:limit]]
        if len(moved) > limit:
            lines.append(f"… and {len(moved) - limit} more (marts.fct_figure_revisions)")
        return lines
