"""CSV for people who open it in a spreadsheet: every text cell that could start a formula is
neutralised the same way, in every CSV nhandao writes for people (query output, rejection
reports, figures read from narrative reports).

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return can be read by Excel,
LibreOffice or Google Sheets as a formula (OWASP "CSV injection"); a leading apostrophe makes
the spreadsheet show it as text. Numbers are written as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """Make a text cell safe to open in a spreadsheet: no formula can run from it."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeWriter:
    """A csv.writer whose every row is neutralised cell by cell. Lines end in CRLF, as RFC 4180
    says; it also makes the writer quote a cell holding a lone carriage return, which a
    spreadsheet would otherwise take for the end of the row."""

    def __init__(self, out) -> None:
        self._writer = csv.writer(out, lineterminator="\r\n")

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([neutralise(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_text(header: list[str], rows: Iterable[Iterable[object]]) -> str:
    """A whole CSV (header, then rows) as text, every cell neutralised."""
    out = io.StringIO()
    writer = SafeWriter(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
