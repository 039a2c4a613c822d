"""A submission file before it is read: its fingerprint (sha256, size, encoding, when it landed),
its format (CSV, the Excel form or a narrative report), a CSV's header, and its bytes as UTF-8
with one kind of line end, as COPY reads them."""

from __future__ import annotations

import codecs
import csv
import hashlib
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from nhandao.ingest.problems import SubmissionError
from nhandao.submission_format import COLUMNS, TARGET_COLUMNS

CSV_SUFFIXES = (".csv", ".txt", ".tsv")

EXCEL_SUFFIXES = (".xlsx",)

COPY_CHUNK = 1 << 20

NARRATIVE_SUFFIXES = (".docx", ".md")
# .txt is also Excel's "Unicode text" (a tab-separated form): a text file is a CSV submission when
# its header names the format's columns, all of which start with this one.
CSV_MARKER = "reporting_unit_code"


@dataclass(frozen=True)
class Fingerprint:
    path: Path
    sha256: str
    size: int
    head: bytes  # the first bytes: a byte-order mark tells UTF-8-with-BOM and UTF-16
    has_quotes: bool  # any '"' in the file (values with quoted newlines are possible)
    submitted_at: datetime  # when the file landed: its modification time

    @cached_property
    def encoding(self) -> str:
        """utf-8, utf-8-sig, utf-16 or cp1258 (read only when a path needs it: a whole pass)."""
        if self.head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if self.head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        decoder = codecs.getincrementaldecoder("utf-8")()
        with open(self.path, "rb") as f:
            try:
                while block := f.read(COPY_CHUNK):
                    decoder.decode(block)
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                return "cp1258"
        return "utf-8"


def fingerprint(path: Path) -> Fingerprint:
    """sha256, size, first bytes and whether any quote appears, in one pass over the file."""
    digest = hashlib.sha256()
    size, head, has_quotes = 0, b"", False
    with open(path, "rb") as f:
        while block := f.read(COPY_CHUNK):
            if not head:
                head = block[:4]
            digest.update(block)
            size += len(block)
            has_quotes = has_quotes or b'"' in block
    modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    return Fingerprint(path, digest.hexdigest(), size, head, has_quotes, modified)


def sha256_of(path: Path) -> str:
    return fingerprint(path).sha256


def is_narrative(path: Path) -> bool:
    """A report written in sentences: a .docx or .md, or a .txt that is not a CSV export."""
    suffix = path.suffix.lower()
    if suffix in NARRATIVE_SUFFIXES:
        return True
    if suffix != ".txt":
        return False
    with open(path, "rb") as f:
        head = f.read(4096)
    return not any(
        CSV_MARKER.encode(encoding) in head for encoding in ("ascii", "utf-16-le", "utf-16-be")
    )


def format_of(path: Path) -> str:
    if is_narrative(path):
        return "narrative"
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        return "xlsx"
    if suffix in CSV_SUFFIXES:
        return "csv"
    return suffix.lstrip(".") or "unknown"


def _csv_text_lines(path: Path, encoding: str) -> Iterator[str]:
    with open(path, encoding=encoding, newline="") as f:
        yield from f


def read_csv_header(path: Path, encoding: str) -> tuple[list[str], str]:
    """The header's column names (normalised) and the delimiter (comma, or tab for Excel text)."""
    try:
        first = next(_csv_text_lines(path, encoding), "")
    except UnicodeDecodeError as exc:
        raise SubmissionError(path.name, "unreadable_file", f"not {encoding} text") from exc
    first = first.lstrip("\ufeff")
    if not first.strip():
        raise SubmissionError(path.name, "no_rows", row=1)
    delimiter = "\t" if "\t" in first and "," not in first else ","
    names = next(csv.reader([first], delimiter=delimiter))
    return [unicodedata.normalize("NFC", n).strip().lower() for n in names], delimiter


def check_csv_header(path: Path, header: list[str]) -> str:
    """The kind of submission the header announces: figures (format v1) or targets."""
    if header == COLUMNS:
        return "figures"
    if header == TARGET_COLUMNS:
        return "targets"
    missing = [c for c in COLUMNS if c not in header]
    extra = [c for c in header if c not in COLUMNS]
    detail = "; ".join(
        part
        for part in (
            f"missing {', '.join(missing)}" if missing else "",
            f"unexpected {', '.join(extra)}" if extra else "",
            "columns out of order" if not missing and not extra else "",
        )
        if part
    )
    raise SubmissionError(
        path.name,
        "wrong_columns",
        f"{detail} (expected: {','.join(COLUMNS)}; or, for targets: {','.join(TARGET_COLUMNS)})",
        row=1,
    )


def utf8_blocks(path: Path, encoding: str) -> Iterator[bytes]:
    r"""The file as UTF-8 bytes (as it is if already UTF-8, else decoded and NFC-normalised),
    every line ending `\n` (see unix_line_ends)."""
    return unix_line_ends(_decoded_blocks(path, encoding))


def _decoded_blocks(path: Path, encoding: str) -> Iterator[bytes]:
    """The file as UTF-8 bytes: as it is if already UTF-8, else decoded and NFC-normalised."""
    if encoding in ("utf-8", "utf-8-sig"):
        with open(path, "rb") as f:
            while block := f.read(COPY_CHUNK):
                yield block
        return
    buffer: list[str] = []
    size = 0
    for line in _csv_text_lines(path, encoding):
        buffer.append(line)
        size += len(line)
        if size >= COPY_CHUNK:
            yield unicodedata.normalize("NFC", "".join(buffer)).encode("utf-8")
            buffer, size = [], 0
    if buffer:
        yield unicodedata.normalize("NFC", "".join(buffer)).encode("utf-8")


def unix_line_ends(blocks: Iterator[bytes]) -> Iterator[bytes]:
    r"""The blocks of a UTF-8 CSV with `\r\n` and a lone `\r` ending a line made `\n`, as the
    bulk path's reader takes them (COPY wants one kind of line end in a file); a line break
    inside a quoted value is data and stays as written. A `\r` that ends a block waits for the
    next one, which may start with its `\n`."""
    quoted = False  # inside a quoted value at the start of the block
    carried = b""
    for block in blocks:
        block, carried = carried + block, b""
        if block.endswith(b"\r"):
            block, carried = block[:-1], b"\r"
        if b"\r" in block:
            block, quoted = _unix_line_ends_of(block, quoted)
        else:
            quoted ^= bool(block.count(b'"') & 1)
        yield block
    if carried:
        yield carried if quoted else b"\n"


def _unix_line_ends_of(block: bytes, quoted: bool) -> tuple[bytes, bool]:
    r"""One block's line ends made `\n` outside quoted values; whether it ends inside one.
    Quotes toggle: an escaped quote (`""`) toggles twice, as COPY reads it."""
    parts = block.split(b'"')
    for i in range(1 if quoted else 0, len(parts), 2):  # the parts outside quotes
        parts[i] = parts[i].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return b'"'.join(parts), quoted ^ bool((len(parts) - 1) & 1)
