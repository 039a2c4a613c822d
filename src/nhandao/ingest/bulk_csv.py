"""The loader's bulk path for a clean long CSV: read with Arrow, check every row vectorised, COPY.

Most submissions are clean: every row names a known unit by its code, a valid period that is not
in the future, a known indicator and program in their canonical (lower-case) spelling, a known
qualifier or none, and a plain whole number within the indicator's plausible maximum, and no
figure is given twice. For a UTF-8 CSV of figures (format v1) the loader first tries this path:
Arrow's CSV reader reads the file in blocks, each block's rows are checked with vectorised
kernels, and the rows, as `raw.submission_rows` stores them, are encoded in Postgres' binary COPY
format (by pgpq, from the Arrow columns, so no value goes through Python) and streamed into one
COPY in the same transaction that records the file. While the client reads and checks the next
block, Postgres stores the previous one.

The first row that is not clean in this strict sense (a value written the Vietnamese way, a unit
given by name, an unknown code, a duplicate, a malformed line, anything unusual) stops the bulk
path: its transaction is rolled back and the file goes through the set-wise SQL path
(`nhandao.ingest.load`), which reads such rows and explains every problem. So the bulk path decides
nothing the SQL path would decide differently: a row it stores reads, through staging, exactly as
the SQL path's row for it. (It leaves the columns the SQL path fills with what a row was read as
(`resolved_unit_code`, `parsed_value`, `parsed_qualifier`) null, which staging reads as "as
given": on a clean row the code is the unit, the value a plain number, the qualifier as given or
exact. Storing them again would cost a quarter of the COPY.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pgpq
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from psycopg.copy import QueuedLibpqWriter

from nhandao import reference, settings
from nhandao.ingest.setwise import period_end_sql, period_start_sql
from nhandao.periods import PERIOD_PATTERN
from nhandao.submission_format import COLUMNS, QUALIFIERS

# bytes of CSV per batch: small enough that Postgres gets its first rows early and never waits
# long for the next, large enough that the per-batch work stays small (on the 1M-row benchmark
# file, 2026-11-24, median seconds of seven: 4 MiB 1.16, 1 MiB 1.10, 512 KiB 1.06-1.08,
# 256 KiB 1.06, 128 KiB 1.31)
BLOCK_SIZE = 1 << 19
# raw.submission_rows' columns, in the order the bulk path writes them: the file's own after
# where they come from
STORED_COLUMNS = ("file_id", "record_number", "row_number", *COLUMNS)
# resolved_unit_code, parsed_value and parsed_qualifier stay null: on a clean row they are the
# code, the value and the qualifier (or exact) as given, which is how staging reads a null there
PLAIN_NUMBER = r"^[0-9]{1,18}$"  # as the SQL path's `value ~ '^[0-9]+$'`, within int64
PERIOD_SLOTS = 1 << 16  # period codes the bulk path knows (about 1,200)
CODE_SLOTS = 1 << 6  # indicators and programs each fit in 6 bits of the duplicate key


class NotClean(Exception):
    """The file needs the SQL path; the message says why (for logs and tests)."""


@dataclass(frozen=True)
class BulkLoad:
    file_id: int
    rows: int
    submitting_unit_code: str | None


@dataclass(frozen=True)
class _Reference:
    unit_codes: pa.Array  # every code of both maps, for index_in
    versions: dict[str, tuple[tuple[date, date, str], ...]]  # code -> (from, to, scope code)
    indicators: pa.Array
    max_values: pa.Array  # int64 per indicator: the largest plausible whole number
    programs: pa.Array
    qualifiers: pa.Array


@lru_cache(maxsize=4)
def _reference_for(seeds_dir: Path) -> _Reference:
    versions: dict[str, list[tuple[date, date, str]]] = {}
    for unit in reference.admin_unit_versions(seeds_dir):
        versions.setdefault(unit.code, []).append(
            (unit.valid_from, unit.valid_to or date.max, unit.scope_code)
        )
    indicators = reference.indicators(seeds_dir)
    codes = sorted(indicators)
    limit = np.iinfo(np.int64).max
    max_values = [
        limit if indicators[c].max_value is None else min(int(indicators[c].max_value), limit)
        for c in codes
    ]
    programs = sorted(reference.program_codes(seeds_dir))
    if len(codes) > CODE_SLOTS or len(programs) > CODE_SLOTS:
        raise RuntimeError("too many indicators or programs for the bulk path's duplicate key")
    return _Reference(
        unit_codes=pa.array(sorted(versions), pa.string()),
        versions={code: tuple(v) for code, v in versions.items()},
        indicators=pa.array(codes, pa.string()),
        max_values=pa.array(max_values, pa.int64()),
        programs=pa.array(programs, pa.string()),
        qualifiers=pa.array(QUALIFIERS, pa.string()),
    )


def warm_up() -> None:
    """Do the once-per-process work of the bulk path ahead: Arrow's first array (which imports
    pandas) and the reference lists. A running worker has done this before its first file."""
    pa.array([0], pa.int64())
    _reference_for(settings.seeds_dir())


def _trimmed(column: pa.Array) -> pa.Array:
    """trim() as Postgres does it (spaces only), empty -> null (as nullif(trim(x), ''))."""
    trimmed = pc.utf8_trim(column, characters=" ")
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _require(condition: pa.Array, why: str) -> None:
    if not pc.all(pc.fill_null(condition, False)).as_py():
        raise NotClean(why)


def _no_unknown(positions: pa.Array, given: pa.Array, why: str) -> None:
    """Each non-null value given was found (index_in gives null for a value not in the set)."""
    if positions.null_count != given.null_count:
        raise NotClean(why)


class _Periods:
    """What each period code means, read by the same SQL as the set-wise path (so campaigns and
    year-to-date codes are read identically), for every code of the years a file may name. Asked
    before the COPY starts: the connection is busy with the COPY afterwards. The answer depends
    only on the day and on the campaigns of the reference lists, so a process asks once a day
    (`_periods_for`), not once a file."""

    FIRST_YEAR = 1990

    def __init__(self, cur: psycopg.Cursor, today: date):
        suffixes = ["", "S1", "S2", *(f"Q{q}" for q in range(1, 5))]
        suffixes += [f"{kind}{m:02d}" for kind in ("M", "YTD") for m in range(1, 13)]
        candidates = [
            f"{year}{suffix}"
            for year in range(self.FIRST_YEAR, today.year + 2)
            for suffix in suffixes
        ]
        rows = cur.execute(
            f"""
            select period, {period_end_sql("period")}, {period_start_sql("period")}
            from (
                select unnest(%(candidates)s::text[]) as period
                union
                select period_code from ref_campaigns
            ) as given
            where period ~ %(pattern)s
            """,
            {"candidates": candidates, "pattern": PERIOD_PATTERN},
        ).fetchall()
        # a period not yet begun is a problem for the set-wise path to report
        usable = sorted((p, end) for p, end, start in rows if end and start and start <= today)
        self.codes = pa.array([p for p, _ in usable], pa.string())
        self.ends = [end for _, end in usable]

    def positions(self, periods: pa.Array) -> pa.Array:
        positions = pc.index_in(periods, value_set=self.codes)
        if periods.null_count or positions.null_count:
            raise NotClean("a period is missing, not a period code, unknown or in the future")
        return positions


_known_periods: dict[tuple[Path, date], _Periods] = {}


def _periods_for(cur: psycopg.Cursor, today: date) -> _Periods:
    """The periods of `today`, computed on the first file of the day (about 10 ms)."""
    key = (settings.seeds_dir(), today)
    if key not in _known_periods:
        _known_periods.clear()
        _known_periods[key] = _Periods(cur, today)
    return _known_periods[key]


def _read_options(has_quotes: bool) -> tuple:
    read = pa_csv.ReadOptions(column_names=COLUMNS, skip_rows=1, block_size=BLOCK_SIZE)
    parse = pa_csv.ParseOptions(
        # a newline can sit inside a value only within quotes; without any quote character in
        # the file, the reader may split blocks at every newline (twice as fast)
        newlines_in_values=has_quotes,
        ignore_empty_lines=False,  # COPY refuses an empty line; so does this path
    )
    convert = pa_csv.ConvertOptions(
        column_types={c: pa.string() for c in COLUMNS},
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        check_utf8=True,
    )
    return read, parse, convert


def _stored_rows(
    batch: pa.RecordBatch,
    ref: _Reference,
    periods: _Periods,
    file_id: int,
    first_record: int,
    keys: list[pa.Array],
    scopes: set[str],
    unit_periods: set[str],
) -> pa.Table:
    """Check one batch; return its rows as raw.submission_rows stores them. Adds the scopes and
    the reports (unit|period) its rows are about to `scopes` and `unit_periods`."""
    code = _trimmed(batch.column("reporting_unit_code"))
    period = _trimmed(batch.column("period"))
    indicator = _trimmed(batch.column("indicator_code"))
    value = batch.column("value")
    qualifier = _trimmed(batch.column("qualifier"))
    program = _trimmed(batch.column("program_code"))

    _require(pc.match_substring_regex(value, PLAIN_NUMBER), "a value is not a plain number")
    unit_position = pc.index_in(code, value_set=ref.unit_codes)
    if code.null_count or unit_position.null_count:
        raise NotClean("a row gives no unit code, or an unknown one")
    indicator_position = pc.index_in(indicator, value_set=ref.indicators)
    if indicator.null_count or indicator_position.null_count:
        raise NotClean("a row gives no indicator, or one not in its canonical spelling")
    program_position = pc.index_in(program, value_set=ref.programs)
    _no_unknown(program_position, program, "a program is unknown or not canonical")
    qualifier_position = pc.index_in(qualifier, value_set=ref.qualifiers)
    _no_unknown(qualifier_position, qualifier, "a qualifier is unknown or not canonical")
    period_position = periods.positions(period)

    number = pc.cast(value, pa.int64())
    _require(
        pc.less_equal(number, pc.take(ref.max_values, indicator_position)),
        "a value is above its indicator's plausible maximum",
    )

    # Each (unit, period) pair: the unit must exist on the period's last day.
    unit_period = pc.add(
        pc.multiply(pc.cast(unit_position, pa.int64()), PERIOD_SLOTS),
        pc.cast(period_position, pa.int64()),
    )
    for pair in pc.unique(unit_period).to_pylist():
        unit_code = ref.unit_codes[pair // PERIOD_SLOTS].as_py()
        end = periods.ends[pair % PERIOD_SLOTS]
        scope = next(
            (s for start, stop, s in ref.versions[unit_code] if start <= end <= stop), None
        )
        if scope is None:
            raise NotClean(f"unit {unit_code} did not exist on {end}")
        scopes.add(scope)
        unit_periods.add(f"{unit_code}|{periods.codes[pair % PERIOD_SLOTS].as_py()}")

    general = ref.programs.index("general").as_py()
    program_filled = pc.fill_null(pc.cast(program_position, pa.int64()), general)
    keys.append(
        pc.add(
            pc.multiply(
                pc.add(
                    pc.multiply(unit_period, CODE_SLOTS),
                    pc.cast(indicator_position, pa.int64()),
                ),
                CODE_SLOTS,
            ),
            program_filled,
        )
    )

    rows = batch.num_rows
    record_number = np.arange(first_record, first_record + rows, dtype=np.int64)
    return pa.table(
        {
            "file_id": pa.array(np.full(rows, file_id, dtype=np.int64)),
            "record_number": pa.array(record_number),
            "row_number": pa.array((record_number + 1).astype(np.int32)),
            "reporting_unit_code": code,
            "reporting_unit_name": _trimmed(batch.column("reporting_unit_name")),
            "period": period,
            "indicator_code": indicator,
            "value": value,
            "qualifier": qualifier,
            "program_code": pc.fill_null(program, "general"),
            "note": _trimmed(batch.column("note")),
        }
    )


def load(
    conn: psycopg.Connection,
    path: Path,
    *,
    sha256: str,
    size: int,
    encoding: str,
    submitted_at,
    has_quotes: bool,
    today: date | None = None,
) -> BulkLoad:
    """Load a clean figures CSV in one transaction, or raise NotClean having changed nothing."""
    ref = _reference_for(settings.seeds_dir())
    read, parse, convert = _read_options(has_quotes)
    keys: list[pa.Array] = []
    scopes: set[str] = set()
    unit_periods: set[str] = set()
    try:
        with conn.transaction(), conn.cursor() as cur:
            # the file's id first (the rows carry it); the file is recorded once all is read
            file_id = cur.execute(
                "select nextval(pg_get_serial_sequence('raw.submission_files', 'file_id'))"
            ).fetchone()[0]
            periods = _periods_for(cur, today or date.today())
            rows = 0
            reader = pa_csv.open_csv(
                path, read_options=read, parse_options=parse, convert_options=convert
            )
            sql = (
                f"copy raw.submission_rows ({', '.join(STORED_COLUMNS)}) from stdin (format binary)"
            )
            encoder = None
            # a writer thread feeds the COPY, so the next block is read and checked meanwhile
            with cur.copy(sql, writer=QueuedLibpqWriter(cur)) as copy:
                for batch in reader:
                    if batch.num_rows == 0:
                        continue
                    table = _stored_rows(
                        batch, ref, periods, file_id, rows + 1, keys, scopes, unit_periods
                    )
                    if encoder is None:
                        encoder = pgpq.ArrowToPostgresBinaryEncoder(table.schema)
                        copy.write(encoder.write_header())
                    for stored in table.to_batches():
                        copy.write(encoder.write_batch(stored))
                    rows += batch.num_rows
                if encoder is None:
                    raise NotClean("no rows")
                copy.write(encoder.finish())
                # checked while Postgres still stores what the writer thread has queued
                if pc.count_distinct(pa.chunked_array(keys)).as_py() != rows:
                    raise NotClean("a figure is given twice")
            submitting_unit = next(iter(scopes)) if len(scopes) == 1 else None
            cur.execute(
                "insert into raw.submission_files (file_id, file_name, sha256, size_bytes,"
                " source_format, encoding, submitting_unit_code, submitted_at, submission_kind,"
                " status, row_count, rejected_row_count, unit_periods) overriding system value"
                " values (%s, %s, %s, %s, 'csv', %s, %s, %s, 'figures', 'loaded', %s, 0, %s)",
                (
                    file_id,
                    path.name,
                    sha256,
                    size,
                    encoding,
                    submitting_unit,
                    submitted_at,
                    rows,
                    sorted(unit_periods),
                ),
            )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:  # malformed line, not UTF-8, …
        raise NotClean(f"the CSV reader stopped: {exc}") from exc
    except psycopg.errors.DataError as exc:
        raise NotClean(f"Postgres refused a value: {exc}") from exc
    return BulkLoad(file_id, rows, submitting_unit)
