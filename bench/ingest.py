"""`make bench`: ingest throughput of nhandao's loader, side by side with two baselines.

In one run, on the same machine and the same Postgres server, this script

1. writes a 1,000,000-row submission file (format v1 long CSV) with real ward codes, real
   indicator and program codes and the twelve months of 2024, unique on (unit, period,
   indicator, program), into a temporary folder;
2. creates a throwaway database `nhandao_bench_<hex>` on the warehouse server (the one
   NHANDAO_WAREHOUSE_URL names, or the embedded one) and bootstraps it, so the user's warehouse
   database is never written to; the database is dropped at the end;
3. measures the wall time and rows/s of (a), (b) and (c) in turns, three rounds (`--repeat`),
   reporting the median of each (and (a') once, before them):
   (a) nhandao's loader, `nhandao.ingest.load.ingest_paths` (one transaction; the clean file takes
       the bulk path: Arrow reads and checks it, one COPY into raw.submission_rows), and beside
       it (a') the same loader with the bulk path off (COPY into a temp table, set-wise SQL),
   (b) a bare `COPY ... from stdin (format csv)` of the same file into an UNLOGGED table of
       8 text columns, 1 MiB blocks, committed (the floor: what Postgres can take at best),
   (c) Airflow's `PostgresHook.insert_rows` (default commit_every=1000) on the first
       50,000 rows of the same file into a plain table of 8 text columns (what a DAG author
       would write without thinking about bulk loading);
   then, not part of the targets, (d) the server's part of (a) alone: the file's rows encoded
   ahead as the bulk path encodes them, COPYed into a table like raw.submission_rows (logged,
   BRIN index on file_id), the same without the index, and unlogged without it, in turns;
4. merges the figures into `bench/results.json` under the key "ingest" and prints a summary.

Targets (reported as PASS/MISS; the process does not fail on a MISS): the loader reaches at
least half of bare COPY's throughput, and at least ten times insert_rows' throughput.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import random
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from itertools import islice
from pathlib import Path
from urllib.parse import quote

import psycopg

from nhandao import reference, settings, warehouse
from nhandao.ingest import bulk_csv, load
from nhandao.periods import month_code
from nhandao.sample.generate import COLUMNS

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results.json"
ROWS = 1_000_000
INSERT_ROWS_SAMPLE = 50_000
INSERT_ROWS_COMMIT_EVERY = 1000  # PostgresHook.insert_rows' default
REPEAT = 3  # rounds of (a), (b) and (c); the median of each is reported
COPY_BLOCK = 1 << 20
AIRFLOW_CONN_ID = "nhandao_bench"
# Wards of these provinces, in this order, until there are enough units for the rows asked for:
# Hà Nội, Thành phố Hồ Chí Minh, Đà Nẵng, Hải Phòng, Cần Thơ (about 1,100 wards in all).
PROVINCES = ("01", "79", "48", "31", "92")
YEAR = 2024
TARGET_RATIO_TO_COPY = 0.5
TARGET_RATIO_TO_INSERT_ROWS = 10.0
SQL_PATH_LABEL = "(a') the set-wise SQL path alone"
NOTES = ("Lễ hội Xuân hồng", "Hành trình đỏ", "Tháng Nhân đạo", "Tết vì người nghèo")


# ---------------------------------------------------------------------------- the file


def bench_units(needed: int) -> list[reference.AdminUnit]:
    """Ward units of a few provinces that exist throughout YEAR, enough for `needed` units."""
    start, end = date(YEAR, 1, 1), date(YEAR, 12, 31)
    units = sorted(
        (
            u
            for u in reference.admin_units().values()
            if u.level == "ward"
            and u.province_code in PROVINCES
            and u.valid_on(start)
            and u.valid_on(end)
        ),
        key=lambda u: (PROVINCES.index(u.province_code), u.code),
    )
    if len(units) < needed:
        raise SystemExit(f"only {len(units)} wards in provinces {PROVINCES}; {needed} needed")
    return units[:needed]


def bench_rows(rows: int, seed: int = 1) -> Iterator[tuple[str, ...]]:
    """`rows` figures: the cartesian product unit × month × indicator × program, cut at `rows`."""
    indicators = sorted(reference.indicator_codes())
    programs = sorted(reference.program_codes())
    periods = [month_code(YEAR, month) for month in range(1, 13)]
    per_unit = len(periods) * len(indicators) * len(programs)
    units = bench_units(-(-rows // per_unit))
    # Plain integers of a plausible size: đồng amounts up to a billion, percentages up to 150,
    # counts up to 5,000 (all below the indicators' plausible maximum, so no row is rejected).
    high = {
        code: 10**9 if code.endswith("_vnd") else 150 if code.endswith("_pct") else 5_000
        for code in indicators
    }
    rng = random.Random(seed)
    randrange, draw = rng.randrange, rng.random
    produced = 0
    for unit in units:
        for period in periods:
            for indicator in indicators:
                top = high[indicator]
                for program in programs:
                    if produced == rows:
                        return
                    chance = draw()
                    qualifier = (
                        "exact"
                        if chance < 0.95
                        else ("lower_bound" if chance < 0.98 else "approximate")
                    )
                    note = NOTES[produced % len(NOTES)] if produced % 50 == 0 else ""
                    yield (
                        unit.code,
                        unit.name,
                        period,
                        indicator,
                        str(randrange(top)),
                        qualifier,
                        program,
                        note,
                    )
                    produced += 1


def write_csv(path: Path, rows: int) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(bench_rows(rows))


def first_rows(path: Path, count: int) -> list[tuple[str, ...]]:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        return [tuple(row) for row in islice(reader, count)]


# ---------------------------------------------------------------------------- the server


def machine(conn: psycopg.Connection) -> dict:
    memory_gb = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    memory_gb = round(int(line.split()[1]) / 1024**2, 1)
                    break
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "postgres": conn.execute("show server_version").fetchone()[0],
        "postgres_embedded": warehouse.is_embedded(),
        "platform": platform.platform(),
    }


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=BENCH_DIR, capture_output=True, text=True, check=True
    ).stdout.strip()


def source_version() -> str | None:
    """The commit measured (`+changes` when the checkout has uncommitted changes)."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        changed = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+changes" if changed else "")


def checkpoint(url: str) -> None:
    """Flush dirty buffers so one measurement does not pay for the previous one's writes."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("checkpoint")
    except psycopg.Error:
        pass  # not a superuser on an external server: measure without it


def text_table(name: str, unlogged: bool = False) -> str:
    columns = ", ".join(f"{c} text" for c in COLUMNS)
    return f"create {'unlogged ' if unlogged else ''}table {name} ({columns})"


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # kB on Linux


# ---------------------------------------------------------------------------- measurements


def warm_up() -> float:
    """The loader's once-per-process work (imports, reference lists), timed on its own."""
    started = time.perf_counter()
    bulk_csv.warm_up()
    return time.perf_counter() - started


class _Fallbacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def measure_ingest(path: Path, url: str, rows: int, bulk: bool = True) -> float:
    """nhandao's loader on the file; with bulk=False, the set-wise SQL path alone."""
    fallbacks = _Fallbacks()
    logger = logging.getLogger("nhandao.ingest.load")
    logger.addHandler(fallbacks)
    logger.setLevel(logging.INFO)
    try_bulk = load._try_bulk
    if not bulk:
        load._try_bulk = lambda conn, path, print_: None
    try:
        started = time.perf_counter()
        results = load.ingest_paths([path], url)
        seconds = time.perf_counter() - started
    finally:
        load._try_bulk = try_bulk
        logger.removeHandler(fallbacks)
    result = results[0]
    if result.status != "loaded" or result.rows_loaded != rows or result.rows_rejected:
        raise SystemExit(f"nhandao ingest did not load all {rows} rows: {result.line()}")
    if bulk and fallbacks.messages:
        raise SystemExit(f"the bulk path was not taken: {fallbacks.messages}")
    print(f"  {result.line()}")
    return seconds


def measure_copy(path: Path, url: str, rows: int) -> float:
    with psycopg.connect(url) as conn:
        conn.execute("drop table if exists bench_copy")
        conn.execute(text_table("bench_copy", unlogged=True))
        conn.commit()
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        with (
            conn.cursor() as cur,
            open(path, "rb") as f,
            cur.copy("copy bench_copy from stdin with (format csv, header true)") as copy,
        ):
            while block := f.read(COPY_BLOCK):
                copy.write(block)
        conn.commit()
    seconds = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        copied = conn.execute("select count(*) from bench_copy").fetchone()[0]
    if copied != rows:
        raise SystemExit(f"bare COPY loaded {copied} rows, expected {rows}")
    return seconds


def airflow_uri(url: str) -> str:
    """An Airflow connection URI for a postgresql:// URL (a socket directory goes in ?host=)."""
    parts = warehouse.split_url(url)
    login = quote(parts.user, safe="")
    if parts.password:
        login += ":" + quote(parts.password, safe="")
    if parts.host.startswith("/"):  # Unix socket: the `host` extra overrides the URI's host
        return (
            f"postgres://{login}@localhost:{parts.port}/{quote(parts.dbname)}"
            f"?host={quote(parts.host, safe='')}"
        )
    return f"postgres://{login}@{parts.host}:{parts.port}/{quote(parts.dbname)}"


def measure_insert_rows(path: Path, url: str, sample: int) -> float:
    # Airflow reads this before its first import: the connection comes from the environment,
    # so no metadata database is needed for the hook.
    settings.apply_airflow_environment()
    os.environ[f"AIRFLOW_CONN_{AIRFLOW_CONN_ID.upper()}"] = airflow_uri(url)
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    rows = first_rows(path, sample)
    with psycopg.connect(url) as conn:
        conn.execute("drop table if exists bench_insert_rows")
        conn.execute(text_table("bench_insert_rows"))
        conn.commit()
    hook = PostgresHook(postgres_conn_id=AIRFLOW_CONN_ID)
    # Also warms up what a running Airflow worker already has: the hook-lineage collector, whose
    # first use loads every plugin (about 0.3-0.9 s, once per process, not per row).
    database = hook.get_first("select current_database()")[0]
    if database != warehouse.split_url(url).dbname:
        raise SystemExit(f"the Airflow connection reached database {database}, not the bench one")
    started = time.perf_counter()
    hook.insert_rows(
        "bench_insert_rows",
        rows,
        target_fields=COLUMNS,
        commit_every=INSERT_ROWS_COMMIT_EVERY,
    )
    seconds = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        inserted = conn.execute("select count(*) from bench_insert_rows").fetchone()[0]
    if inserted != len(rows):
        raise SystemExit(f"insert_rows inserted {inserted} rows, expected {len(rows)}")
    return seconds


# ---------------------------------------------------------------------------- results


def write_report(output: Path, key: str, report: dict, source: str | None, summary: str) -> dict:
    """Stamp the report (when, which code, which command), merge it into `output` under
    `key`, print the summary."""
    report.update(
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        source=source,
        command="make bench",
    )
    merge_results(output, key, report)
    print(summary)
    print(f"\n→ results merged into {output} (key '{key}')")
    return report


def merge_results(path: Path, key: str, value: dict) -> None:
    """Merge {key: value} into the JSON file, keeping the other benchmarks' keys."""
    results = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    results[key] = value
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def verdict(value: float, target: float) -> str:
    return "PASS" if value >= target else "MISS"


def summary(report: dict) -> str:
    s = report["seconds"]
    rows, sample = report["rows"], report["insert_rows_sample"]
    lines = [
        f"\nIngest benchmark: {rows:,} rows, {report['file_mb']} MB CSV"
        f" ({report['machine']['cpu_count']} CPU, {report['machine']['memory_gb']} GB,"
        f" Postgres {report['machine']['postgres']})",
        "",
        f"  {'method':<42} {'rows':>10} {'seconds':>9} {'rows/s':>11}",
        f"  {'(a) nhandao load.ingest_paths':<42} {rows:>10,} {s['ingest']:>9.2f}"
        f" {report['rows_per_s']:>11,.0f}",
        f"  {SQL_PATH_LABEL:<42} {rows:>10,} {s['ingest_sql_path']:>9.2f}"
        f" {report['sql_path_rows_per_s']:>11,.0f}",
        f"  {'(b) bare COPY, unlogged table':<42} {rows:>10,} {s['copy']:>9.2f}"
        f" {report['copy_rows_per_s']:>11,.0f}",
        f"  {'(c) PostgresHook.insert_rows (commit 1000)':<42} {sample:>10,}"
        f" {s['insert_rows']:>9.2f} {report['insert_rows_rows_per_s']:>11,.0f}",
        "",
        f"  ratio to COPY         {report['ratio_to_copy']:>8.2f}  target ≥"
        f" {TARGET_RATIO_TO_COPY:<5} {verdict(report['ratio_to_copy'], TARGET_RATIO_TO_COPY)}",
        f"  ratio to insert_rows  {report['ratio_to_insert_rows']:>8.2f}  target ≥"
        f" {TARGET_RATIO_TO_INSERT_ROWS:<5}"
        f" {verdict(report['ratio_to_insert_rows'], TARGET_RATIO_TO_INSERT_ROWS)}",
        f"  once-per-process start of the loader (imports, reference lists, not counted):"
        f" {s['startup']:.2f} s",
        f"  peak RSS of this process {report['peak_rss_mb']} MB;"
        f" CSV written in {s['generate']:.2f} s",
    ]
    if store := report.get("store_seconds"):
        lines += [
            "",
            "  (d) the loader's encoded rows stored alone (COPY binary, committed), seconds:",
            f"      like raw.submission_rows (logged, BRIN on file_id) {store['logged_brin']:.3f};"
            f" without the index {store['logged']:.3f}; unlogged, no index {store['unlogged']:.3f}",
        ]
    return "\n".join(lines)


def clear_raw(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("truncate raw.submission_rows, raw.submission_files cascade")


STORE_TABLES = {  # raw.submission_rows' stored columns, as the bulk path writes them
    "store_logged_brin": "",  # as raw.submission_rows is: logged, BRIN index on file_id
    "store_logged": "",  # logged, no index
    "store_unlogged": "unlogged",  # neither WAL nor index
}


def encoded_rows(path: Path) -> list[bytes]:
    """The file's rows in Postgres' binary COPY format, as the bulk path encodes them (its
    stored columns, by pgpq from Arrow), encoded once, ahead."""
    import numpy as np
    import pgpq
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    types = pa_csv.ConvertOptions(column_types={c: pa.string() for c in COLUMNS})
    table = pa_csv.read_csv(path, convert_options=types)
    count = table.num_rows
    record_number = np.arange(1, count + 1, dtype=np.int64)
    stored = pa.table(
        {
            "file_id": pa.array(np.full(count, 1, dtype=np.int64)),
            "record_number": pa.array(record_number),
            "row_number": pa.array((record_number + 1).astype(np.int32)),
            **{c: table.column(c) for c in COLUMNS},
        }
    )
    encoder = pgpq.ArrowToPostgresBinaryEncoder(stored.schema)
    batches = stored.to_batches(max_chunksize=50_000)
    return [encoder.write_header(), *map(encoder.write_batch, batches), encoder.finish()]


def measure_store(url: str, table: str, encoded: list[bytes], rows: int) -> float:
    """COPY the encoded rows into `table` (emptied first) and commit: the server's part alone."""
    with psycopg.connect(url) as conn:
        conn.execute(f"truncate {table}")
        conn.commit()
    checkpoint(url)
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        columns = ", ".join(bulk_csv.STORED_COLUMNS)
        with (
            conn.cursor() as cur,
            cur.copy(f"copy {table} ({columns}) from stdin (format binary)") as copy,
        ):
            for part in encoded:
                copy.write(part)
        conn.commit()
    seconds = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        stored = conn.execute(f"select count(*) from {table}").fetchone()[0]
    if stored != rows:
        raise SystemExit(f"{table} holds {stored} rows, expected {rows}")
    return seconds


def measure_server_side(path: Path, url: str, rows: int, repeat: int) -> dict[str, list[float]]:
    """Where the loader's server time goes: the loader's encoded rows stored into a table like
    raw.submission_rows, the same without its index, and without WAL either, in turns."""
    encoded = encoded_rows(path)
    with psycopg.connect(url) as conn:
        for table, kind in STORE_TABLES.items():
            conn.execute(f"create {kind} table {table} (like raw.submission_rows)")
        conn.execute("create index on store_logged_brin using brin (file_id)")
    taken: dict[str, list[float]] = {table: [] for table in STORE_TABLES}
    for _ in range(repeat):
        for table in STORE_TABLES:
            taken[table].append(measure_store(url, table, encoded, rows))
    return taken


def run(rows: int, sample: int, output: Path, repeat: int = REPEAT) -> dict:
    source = source_version()  # before anything runs: the code measured
    print("→ Kho dữ liệu / warehouse: starting")
    server_url = warehouse.ensure_warehouse()
    admin_url = warehouse.with_database(server_url, "postgres")
    dbname = f"nhandao_bench_{secrets.token_hex(4)}"
    url = warehouse.with_database(server_url, dbname)
    seconds: dict[str, float] = {}
    samples: dict[str, list[float]] = {"ingest": [], "copy": [], "insert_rows": []}
    server_side: dict[str, list[float]] = {}
    rss: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="nhandao-bench-") as folder:
        path = Path(folder) / f"bench_{rows}.csv"
        print(f"→ writing {rows:,} rows to {path}")
        started = time.perf_counter()
        write_csv(path, rows)
        seconds["generate"] = time.perf_counter() - started
        rss["generate"] = peak_rss_mb()
        file_mb = round(path.stat().st_size / 1e6, 1)
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"create database {dbname}")
        try:
            with psycopg.connect(url) as conn:
                warehouse.bootstrap(conn)
                machine_info = machine(conn)
            print(f"→ database {dbname} on {warehouse.split_url(url).host}")

            seconds["startup"] = warm_up()
            print("→ (a') nhandao ingest, the set-wise SQL path alone (files with odd rows)")
            checkpoint(url)
            seconds["ingest_sql_path"] = measure_ingest(path, url, rows, bulk=False)
            rss["ingest_sql_path"] = peak_rss_mb()
            clear_raw(url)

            # (a), (b) and (c) in turns, `repeat` rounds: a machine's load drifts, and each
            # method meets the same drift; the median of each is reported
            for round_number in range(1, repeat + 1):
                print(f"→ round {round_number} of {repeat}")
                print("  (a) nhandao ingest")
                checkpoint(url)
                samples["ingest"].append(measure_ingest(path, url, rows))
                rss["ingest"] = peak_rss_mb()
                clear_raw(url)

                print("  (b) bare COPY into an unlogged table")
                checkpoint(url)
                samples["copy"].append(measure_copy(path, url, rows))
                rss["copy"] = peak_rss_mb()

                print(f"  (c) Airflow PostgresHook.insert_rows, first {sample:,} rows")
                checkpoint(url)
                samples["insert_rows"].append(measure_insert_rows(path, url, sample))
                rss["insert_rows"] = peak_rss_mb()
            for method, taken in samples.items():
                seconds[method] = statistics.median(taken)
            print("→ (d) the loader's encoded rows stored, with and without index and WAL")
            server_side = measure_server_side(path, url, rows, repeat)
        finally:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f"drop database if exists {dbname} with (force)")
    rows_per_s = rows / seconds["ingest"]
    copy_rows_per_s = rows / seconds["copy"]
    insert_rows_rows_per_s = sample / seconds["insert_rows"]
    report = {
        "rows": rows,
        "file_mb": file_mb,
        "rows_per_s": round(rows_per_s),
        "copy_rows_per_s": round(copy_rows_per_s),
        "insert_rows_rows_per_s": round(insert_rows_rows_per_s),
        "sql_path_rows_per_s": round(rows / seconds["ingest_sql_path"]),
        "insert_rows_sample": sample,
        "insert_rows_commit_every": INSERT_ROWS_COMMIT_EVERY,
        "ratio_to_copy": round(rows_per_s / copy_rows_per_s, 3),
        "ratio_to_insert_rows": round(rows_per_s / insert_rows_rows_per_s, 2),
        "targets": {
            "ratio_to_copy": TARGET_RATIO_TO_COPY,
            "ratio_to_insert_rows": TARGET_RATIO_TO_INSERT_ROWS,
        },
        "seconds": {key: round(value, 3) for key, value in seconds.items()},
        "repeat": repeat,
        "seconds_each_round": {
            key: [round(value, 3) for value in taken] for key, taken in samples.items()
        },
        # (d): the server's part of (a) alone, and what the index and the WAL cost in it
        "store_seconds": {
            table.removeprefix("store_"): round(statistics.median(taken), 3)
            for table, taken in server_side.items()
        },
        "store_seconds_each_round": {
            table.removeprefix("store_"): [round(value, 3) for value in taken]
            for table, taken in server_side.items()
        },
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_mb_after": rss,
        "machine": machine_info,
    }
    return write_report(output, "ingest", report, source, summary(report))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS, help="rows in the file (1,000,000)")
    parser.add_argument(
        "--insert-rows-sample",
        type=int,
        default=INSERT_ROWS_SAMPLE,
        help="rows given to PostgresHook.insert_rows (50,000)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="results JSON to merge into")
    parser.add_argument(
        "--repeat", type=int, default=REPEAT, help=f"rounds of (a), (b), (c) ({REPEAT})"
    )
    args = parser.parse_args(argv)
    run(args.rows, min(args.insert_rows_sample, args.rows), args.output, max(1, args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
