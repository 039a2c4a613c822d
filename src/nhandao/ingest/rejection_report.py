"""Rejection reports for the district officer: FILE.rejections.csv and FILE.rejections.html.

Written beside the submitted file whenever a file or some of its rows were refused. The HTML is
self-contained (no styling or scripts from the web); the CSV neutralises spreadsheet formulas.
"""

from __future__ import annotations

import html
from pathlib import Path

import psycopg

from nhandao import spreadsheet
from nhandao.ingest import resubmission

REPORT_SUFFIXES = (".rejections.csv", ".rejections.html")

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1f2933; }
h1 { font-size: 1.4rem; } .en { color: #52606d; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { border: 1px solid #cbd2d9; padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: #f0f4f8; } .status-rejected { color: #b91c1c; } .status-loaded { color: #166534; }
"""


def is_report(path: Path) -> bool:
    return path.name.endswith(REPORT_SUFFIXES)


def report_paths(file_name: str, folder: Path) -> tuple[Path, Path]:
    return folder / f"{file_name}.rejections.csv", folder / f"{file_name}.rejections.html"


def write_rejection_report(conn: psycopg.Connection, file_id: int, folder: Path) -> list[Path]:
    """Write the CSV and HTML reports of one file's rejections into `folder`."""
    file_name, status, loaded, rejected = conn.execute(
        "select file_name, status, row_count, rejected_row_count from raw.submission_files"
        " where file_id = %s",
        (file_id,),
    ).fetchone()
    problems = conn.execute(
        "select sheet_name, row_number, column_name, source_column, value_seen, reason_code,"
        " message_vi, message_en from raw.rejections where file_id = %s"
        " order by row_number nulls first, rejection_id",
        (file_id,),
    ).fetchall()
    csv_path, html_path = report_paths(file_name, folder)
    header = [
        "sheet",
        "row",
        "column",
        "excel_column",
        "value_seen",
        "reason_code",
        "message_vi",
        "message_en",
    ]
    kept: list[resubmission.EarlierFigure] = []
    if status == "rejected":
        summary_vi = (
            "Tệp bị từ chối toàn bộ: không có số liệu nào được nạp; số liệu đã nạp trước đây"
            " không thay đổi."
        )
        summary_en = (
            "The whole file was rejected: no figure was loaded, and figures loaded earlier stay"
            " as they were."
        )
    else:
        summary_vi = f"Đã nạp {loaded} dòng; {rejected} dòng bị từ chối (xem bên dưới)."
        summary_en = f"{loaded} rows loaded; {rejected} rows rejected (listed below)."
        kept = resubmission.effect(conn, file_id).kept
    with open(csv_path, "w", newline="", encoding="utf-8-sig") as out:
        writer = spreadsheet.SafeWriter(out)
        writer.writerow(header)
        writer.writerows(problems)
        writer.writerows(_kept_csv_row(figure) for figure in kept)
    rows_html = "\n".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape('' if v is None else str(v))}</td>"
            for v in (sheet, row, column, excel_column, value, vi, en)
        )
        + "</tr>"
        for sheet, row, column, excel_column, value, _, vi, en in problems
    )
    html_path.write_text(
        f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<title>Báo cáo lỗi — {html.escape(file_name)}</title><style>{STYLE}</style></head>
<body>
<h1>Báo cáo lỗi tệp <code>{html.escape(file_name)}</code>
<span class="en">/ Rejection report</span></h1>
<p class="status-{status}"><strong>{summary_vi}</strong><br><span class="en">{summary_en}</span></p>
<table>
<tr><th>Trang tính<br><span class="en">Sheet</span></th><th>Dòng<br><span class="en">Row</span></th>
<th>Cột<br><span class="en">Column</span></th>
<th>Cột Excel<br><span class="en">Excel column</span></th>
<th>Giá trị<br><span class="en">Value seen</span></th><th>Lý do</th><th class="en">Reason</th></tr>
{rows_html}
</table>
{_kept_html(kept)}
</body></html>
""",
        encoding="utf-8",
    )
    return [csv_path, html_path]


def _kept_html(kept: list[resubmission.EarlierFigure]) -> str:
    """The figures of earlier versions this file keeps in effect, with the rule that keeps them."""
    if not kept:
        return ""
    rows = "\n".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                f.unit_code,
                f.period,
                f.program_code,
                f.indicator_code,
                format(f.value.normalize(), "f"),
                f.qualifier,
                f"{f.version_number} ({f.file_name}, file {f.file_id})",
            )
        )
        + "</tr>"
        for f in kept
    )
    return f"""<h2>{len(kept)} số liệu của phiên bản trước được giữ lại
<span class="en">/ {len(kept)} figures kept from earlier versions</span></h2>
<p>{html.escape(resubmission.POLICY_VI)}<br>
<span class="en">{html.escape(resubmission.POLICY_EN)}</span></p>
<table class="kept">
<tr><th>Đơn vị<br><span class="en">Unit</span></th><th>Kỳ<br><span class="en">Period</span></th>
<th>Chương trình<br><span class="en">Program</span></th>
<th>Chỉ tiêu<br><span class="en">Indicator</span></th>
<th>Giá trị<br><span class="en">Value</span></th>
<th>Độ chính xác<br><span class="en">Qualifier</span></th>
<th>Từ phiên bản<br><span class="en">From version</span></th></tr>
{rows}
</table>"""


def _kept_csv_row(figure: resubmission.EarlierFigure) -> tuple:
    """A kept figure as a line of the CSV report (no row of this file: it is not in it)."""
    value = format(figure.value.normalize(), "f")
    where = f"{figure.unit_code} {figure.period} {figure.program_code} {figure.indicator_code}"
    source = f"{figure.version_number} ({figure.file_name}, file {figure.file_id})"
    return (
        None,
        None,
        "indicator_code",
        None,
        value,
        "kept_from_earlier_version",
        f"Số liệu {where} = {value} được giữ từ phiên bản {source} cho đến khi có giá trị hợp lệ",
        f"Figure {where} = {value} is kept from version {source} until a valid value arrives",
    )
