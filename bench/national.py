"""`make bench` (national part): the whole country's history built end to end, then one new month,
then one district's single file, each timed by stage.

In one run, on the same machine and the same Postgres server, this script

1. writes the national sample (`nhandao.sample.generate.national_run`, default 2019-2026:
   every unit of each month's map, monthly, year-to-date, campaign and target files, late files
   and `_v2` resubmissions) into a temporary folder (timed, not part of the build);
2. splits the files by when they were sent (their modification time): everything sent before
   the first day of the current month is the history; what was sent since is the new month (last
   month's reports, with the late ones and corrections that came with them);
3. creates a throwaway database `nhandao_national_<hex>` on the warehouse server (the one
   NHANDAO_WAREHOUSE_URL names, or the embedded one), bootstraps it, and drops it at the end;
4. runs, with the pipeline's own functions (the ones the DAG tasks call), timing each stage:
   (a) the full build of the history: ingest (`load.ingest_paths`, in the order sent), `dbt
       build`, the quality gate (`validate.run_gate`, every province's slice) and publish;
   (b) the new month: the same four stages, dbt incremental; beside its gate (in
       `settings.gate_workers()` processes) the same gate in one process, not counted;
   (c) one district's single file: a corrected resubmission of one report of the new month,
       landed, built, gated and published; its changed figure is checked in the published marts;
   (d) a bare `COPY` of the history's figure rows (one concatenated CSV) into an unlogged table,
       beside the ingest of the same rows in (a);
5. samples memory every 0.2 s: this process (the loader, dbt and Great Expectations all run in it)
   and the Postgres server (the sum of its processes' proportional set size, where /proc lets us
   read it), and records the peak of each stage;
6. merges the figures into `bench/results.json` under the key "national" ("national_some_provinces"
   for a run with --provinces) and prints a summary.

Target (reported as PASS/MISS; the process does not fail on a MISS): the new month takes at most
10% of the full build's time.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import psutil
import psycopg

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

# bench/ingest.py's helpers (the module is `ingest`; the name `ingest` below is nhandao.ingest.load)

from ingest import (  # noqa: E402
    RESULTS,
    checkpoint,
    machine,
    source_version,
    text_table,
    verdict,
    write_report,
)

from nhandao import dbt, settings, warehouse  # noqa: E402
from nhandao.gate import validate  # noqa: E402
from nhandao.ingest import bulk_csv, load  # noqa: E402
from nhandao.publish import release  # noqa: E402
from nhandao.sample import generate  # noqa: E402
from nhandao.sample.generate import COLUMNS  # noqa: E402

YEARS = "2019-2026"
SEED = 1
TARGET_NEW_MONTH_SHARE = 0.10
STAGES = ("ingest", "dbt", "gate", "publish")
SAMPLE_EVERY = 0.2


# ---------------------------------------------------------------------------- memory


def postmaster_pid(url: str) -> int | None:
    """The server's main process (the parent of our backend), if it runs on this machine."""
    with psycopg.connect(url) as conn:
        backend = conn.execute("select pg_backend_pid()").fetchone()[0]
    try:
        return psutil.Process(backend).ppid()
    except psutil.Error:
        return None


def _tree(process: psutil.Process) -> list[psutil.Process]:
    try:
        return [process, *process.children(recursive=True)]
    except psutil.Error:
        return [process]


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.Error:
        return 0


def _pss(process: psutil.Process) -> int | None:
    try:
        return process.memory_full_info().pss
    except (psutil.Error, AttributeError):
        return None


class MemorySampler(threading.Thread):
    """Peak RSS of this process and its children, and peak PSS of the Postgres server (the
    sum over its processes of each one's proportional share, so shared buffers count once)."""

    def __init__(self, server_pid: int | None):
        super().__init__(daemon=True)
        self.me = psutil.Process()
        self.server = psutil.Process(server_pid) if server_pid else None
        self.client_peak = 0
        self.server_peak: int | None = None
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

    def _server_bytes(self) -> int | None:
        if self.server is None:
            return None
        sizes = [_pss(p) for p in _tree(self.server)]
        known = [size for size in sizes if size is not None]
        return sum(known) if known else None

    def sample(self) -> None:
        client = sum(_rss(p) for p in _tree(self.me))
        server = self._server_bytes()
        with self._lock:
            self.client_peak = max(self.client_peak, client)
            if server is not None:
                self.server_peak = max(self.server_peak or 0, server)

    def run(self) -> None:
        while not self._stop_event.wait(SAMPLE_EVERY):
            self.sample()

    def reset(self) -> tuple[float, float | None]:
        """The peaks (MB) since the last reset; start again from now."""
        self.sample()
        with self._lock:
            peaks = (
                round(self.client_peak / 2**20, 1),
                None if self.server_peak is None else round(self.server_peak / 2**20, 1),
            )
            self.client_peak, self.server_peak = 0, None
        return peaks

    def stop(self) -> None:
        self._stop_event.set()


# ---------------------------------------------------------------------------- the build


@dataclass
class Build:
    """One pass of the pipeline: seconds and peak memory by stage, and what was loaded."""

    name: str
    files: int
    seconds: dict[str, float] = field(default_factory=dict)
    client_peak_mb: dict[str, float] = field(default_factory=dict)
    server_peak_mb: dict[str, float | None] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    rows_loaded: int = 0
    rows_rejected: int = 0
    provinces_published: int = 0
    provinces_held_back: list[str] = field(default_factory=list)
    gate_workers: int | None = None  # processes the timed gate could share its work between
    gate_one_process_seconds: float | None = None  # the same gate in one process, beside it
    dbt_slowest: dict[str, float] = field(default_factory=dict)  # dbt's slowest nodes, seconds

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def report(self) -> dict:
        return {
            "files": self.files,
            "files_by_status": self.statuses,
            "rows_loaded": self.rows_loaded,
            "rows_rejected": self.rows_rejected,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "seconds_total": round(self.total, 2),
            "peak_client_mb": self.client_peak_mb,
            "peak_postgres_mb": self.server_peak_mb,
            "provinces_published": self.provinces_published,
            "provinces_held_back": self.provinces_held_back,
            "dbt_slowest_nodes_seconds": self.dbt_slowest,
            **(
                {
                    "gate_workers": self.gate_workers,
                    "gate_one_process_seconds": round(self.gate_one_process_seconds, 2),
                }
                if self.gate_one_process_seconds is not None
                else {}
            ),
        }


def run_build(
    name: str,
    paths: list[Path],
    url: str,
    sampler: MemorySampler,
    context_dir: Path,
    compare_gate: bool = False,
) -> Build:
    """Ingest `paths` in the order given, then dbt build, gate and publish, each timed.

    `compare_gate`: first run the same gate in one process (not counted in the build), then
    forget its judgements, so the timed gate, in `settings.gate_workers()` processes, does the
    same work."""
    build = Build(name, len(paths))

    def stage(label: str, work: Callable[[], object]) -> object:
        print(f"  · {label}", flush=True)
        sampler.reset()
        started = time.perf_counter()
        result = work()
        build.seconds[label] = time.perf_counter() - started
        build.client_peak_mb[label], build.server_peak_mb[label] = sampler.reset()
        print(f"    {build.seconds[label]:.1f} s", flush=True)
        return result

    results = stage("ingest", lambda: load.ingest_paths(paths, url))
    build.statuses = dict(Counter(r.status for r in results))
    build.rows_loaded = sum(r.rows_loaded for r in results)
    build.rows_rejected = sum(r.rows_rejected for r in results)
    stage("dbt", lambda: dbt.run(["build", "--quiet"], url))
    build.dbt_slowest = slowest_dbt_nodes()
    if compare_gate:
        build.gate_one_process_seconds = gate_in_one_process(url, context_dir)
        build.gate_workers = settings.gate_workers()
    result = stage(
        "gate",
        lambda: validate.enforce(
            validate.run_gate(url, context_dir=context_dir, workers=build.gate_workers)
        ),
    )

    def publish_all() -> release.Publication:
        with psycopg.connect(url) as conn:
            return release.publish(conn, dbt.published_slices(), result.gate_run_id)

    published = stage("publish", publish_all)
    build.provinces_published = len(published.provinces_published)
    build.provinces_held_back = list(published.provinces_held_back)
    return build


def slowest_dbt_nodes(count: int = 12) -> dict[str, float]:
    """The dbt nodes (models and tests) of the last dbt command that took longest, in seconds,
    from its target/run_results.json."""
    path = settings.dbt_project_dir() / "target" / "run_results.json"
    results = json.loads(path.read_text(encoding="utf-8"))["results"]
    slowest = sorted(results, key=lambda r: -r["execution_time"])[:count]
    return {r["unique_id"]: round(r["execution_time"], 2) for r in slowest}


def gate_in_one_process(url: str, context_dir: Path) -> float:
    """Seconds the gate takes in one process; its judgements are then forgotten."""
    print("  · gate in one process (for comparison; not counted)", flush=True)
    started = time.perf_counter()
    result = validate.run_gate(url, context_dir=context_dir, workers=1)
    seconds = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        conn.execute(
            "delete from monitoring.gate_slices where gate_run_id = %s", (result.gate_run_id,)
        )
    print(f"    {seconds:.1f} s", flush=True)
    return seconds


# ---------------------------------------------------------------------------- the files


def split_by_sending(paths: list[Path], cutoff: datetime) -> tuple[list[Path], list[Path]]:
    """(sent before cutoff, sent since), each in the order sent."""
    stamp = cutoff.timestamp()
    sent = sorted((p.stat().st_mtime, p.name, p) for p in paths)
    return [p for t, _, p in sent if t < stamp], [p for t, _, p in sent if t >= stamp]


def figure_file(path: Path) -> bool:
    with open(path, encoding="utf-8-sig") as f:
        return f.readline().strip() == ",".join(COLUMNS)


@dataclass(frozen=True)
class Correction:
    path: Path
    unit: str
    period: str
    indicator: str
    program: str
    value: int


def corrected_resubmission(new_month: list[Path], folder: Path) -> Correction:
    """One district's (or commune's) report of the new month, sent again with one figure
    corrected: the first plain-number figure of the first monthly figures file, plus 7."""
    for path in new_month:
        if path.stem.endswith("_v2") or not figure_file(path):
            continue
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
        for row in rows:
            if row["value"].isdigit() and "M" in row["period"]:
                value = int(row["value"]) + 7
                row["value"] = str(value)
                out = folder / f"{path.stem}_v2{path.suffix}"
                with open(out, "w", encoding="utf-8", newline="") as f:
                    writer = csv.DictWriter(f, COLUMNS, lineterminator="\n")
                    writer.writeheader()
                    writer.writerows(rows)
                return Correction(
                    out,
                    row["reporting_unit_code"],
                    row["period"],
                    row["indicator_code"],
                    row["program_code"] or "general",
                    value,
                )
    raise SystemExit("no monthly figures file with a plain number among the new month's files")


def published_value(url: str, correction: Correction) -> object:
    """The corrected figure's new value as the published revisions mart shows it."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select new_value from marts.fct_figure_revisions"
            " where reporting_unit_code = %s and period_code = %s and indicator_code = %s"
            " and program_code = %s order by version_number desc limit 1",
            (correction.unit, correction.period, correction.indicator, correction.program),
        ).fetchone()
    return None if row is None else row[0]


def bare_copy(paths: list[Path], url: str, folder: Path) -> tuple[int, float]:
    """All figure rows of `paths` as one CSV, COPYed into an unlogged table: (rows, seconds)."""
    combined = folder / "history_figures.csv"
    rows = 0
    with open(combined, "w", encoding="utf-8", newline="") as out:
        out.write(",".join(COLUMNS) + "\n")
        for path in paths:
            if not figure_file(path):
                continue
            with open(path, encoding="utf-8-sig") as f:
                next(f)
                for line in f:
                    out.write(line)
                    rows += 1
    with psycopg.connect(url) as conn:
        conn.execute(text_table("bench_copy", unlogged=True))
        conn.commit()
    checkpoint(url)
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        with (
            conn.cursor() as cur,
            open(combined, "rb") as f,
            cur.copy("copy bench_copy from stdin with (format csv, header true)") as copy,
        ):
            while block := f.read(1 << 20):
                copy.write(block)
        conn.commit()
    seconds = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        copied = conn.execute("select count(*) from bench_copy").fetchone()[0]
        conn.execute("drop table bench_copy")
    combined.unlink()
    if copied != rows:
        raise SystemExit(f"bare COPY loaded {copied} rows, expected {rows}")
    return rows, seconds


def database_size_mb(url: str) -> float:
    with psycopg.connect(url) as conn:
        size = conn.execute("select pg_database_size(current_database())").fetchone()[0]
    return round(size / 1e6, 1)


# ---------------------------------------------------------------------------- the run


def summary(report: dict) -> str:
    full, month, one = report["full_build"], report["new_month"], report["one_file"]
    m = report["machine"]
    lines = [
        f"\nNational benchmark: {report['years']}, {report['files']:,} files,"
        f" {report['figures']:,} figure rows ({m['cpu_count']} CPU, {m['memory_gb']} GB,"
        f" Postgres {m['postgres']})",
        "",
        f"  {'':<26} {'files':>8} {'ingest':>8} {'dbt':>8} {'gate':>8} {'publish':>8} {'total':>9}",
    ]
    for label, build in (
        ("(a) full build, history", full),
        ("(b) one new month", month),
        ("(c) one district file", one),
    ):
        s = build["seconds"]
        lines.append(
            f"  {label:<26} {build['files']:>8,} {s['ingest']:>8.1f} {s['dbt']:>8.1f}"
            f" {s['gate']:>8.1f} {s['publish']:>8.1f} {build['seconds_total']:>9.1f}"
        )
    share = report["new_month_share_of_full_build"]
    lines += [
        "",
        f"  new month / full build  {share:>6.3f}  target ≤ {TARGET_NEW_MONTH_SHARE}"
        f"  {'PASS' if share <= TARGET_NEW_MONTH_SHARE else 'MISS'}",
        f"  peak memory, full build: this process {max(full['peak_client_mb'].values())} MB,"
        f" Postgres {report['peak_postgres_mb_full_build']} MB",
        f"  ingest of the history {report['ingest_rows_per_s']:,} rows/s; bare COPY of its"
        f" figure rows {report['copy_rows_per_s']:,} rows/s; ratio"
        f" {report['ingest_ratio_to_copy']:.3f}"
        f" ({verdict(report['ingest_ratio_to_copy'], 0.5)} of 0.5; per file"
        f" {report['ingest_ms_per_file']} ms)",
        f"  database after all: {report['database_mb']} MB",
    ]
    if month.get("gate_one_process_seconds") is not None:
        lines.append(
            f"  new month's gate: {month['seconds']['gate']:.1f} s in {month['gate_workers']}"
            f" processes, {month['gate_one_process_seconds']:.1f} s in one (same slices)"
        )
    return "\n".join(lines)


def run(years: str, provinces: list[str] | None, output: Path, keep: Path | None) -> dict:
    source = source_version()  # before anything runs: the code measured
    print("→ Kho dữ liệu / warehouse: starting")
    server_url = warehouse.ensure_warehouse()
    admin_url = warehouse.with_database(server_url, "postgres")
    dbname = f"nhandao_national_{secrets.token_hex(4)}"
    url = warehouse.with_database(server_url, dbname)
    with tempfile.TemporaryDirectory(prefix="nhandao-national-") as tmp:
        folder = Path(tmp)
        os.environ["NHANDAO_REPORTS"] = str(folder / "reports")
        files_dir = keep or folder / "files"
        print(f"→ writing the national sample ({years}) to {files_dir}")
        started = time.perf_counter()
        if keep is not None and any(keep.iterdir()):
            paths = sorted(p for p in keep.rglob("*") if p.is_file())
            generated = None
        else:
            generated = generate.national_run(
                files_dir, generate.parse_years(years), SEED, provinces
            )
            paths = generated.paths
        generate_seconds = time.perf_counter() - started
        today = date.today()
        cutoff = datetime(today.year, today.month, 1).astimezone()
        history, new_month = split_by_sending(paths, cutoff)
        print(
            f"  {len(paths):,} files in {generate_seconds:.0f} s: {len(history):,} sent before"
            f" {cutoff:%Y-%m-%d}, {len(new_month):,} since"
        )
        if not history or not new_month:
            raise SystemExit("the sample has no history or no new month to measure")
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"create database {dbname}")
        sampler = MemorySampler(postmaster_pid(admin_url))
        sampler.start()
        try:
            with psycopg.connect(url) as conn:
                warehouse.bootstrap(conn)
                machine_info = machine(conn)
            print(f"→ database {dbname} on {warehouse.split_url(url).host}")
            bulk_csv.warm_up()
            context_dir = folder / "gx"

            print(f"→ (a) full build of the history: {len(history):,} files")
            checkpoint(url)
            full = run_build("full_build", history, url, sampler, context_dir)

            print(f"→ (b) one new month: {len(new_month):,} files")
            checkpoint(url)
            month = run_build("new_month", new_month, url, sampler, context_dir, compare_gate=True)

            correction = corrected_resubmission(new_month, folder)
            print(f"→ (c) one district file: {correction.path.name}")
            checkpoint(url)
            one = run_build("one_file", [correction.path], url, sampler, context_dir)
            seen = published_value(url, correction)
            if seen is None or float(seen) != correction.value:
                raise SystemExit(
                    f"the corrected figure was not published: marts show {seen},"
                    f" the file says {correction.value}"
                )

            print("→ (d) bare COPY of the history's figure rows")
            copy_rows, copy_seconds = bare_copy(history, url, folder)
            size_mb = database_size_mb(url)
        finally:
            sampler.stop()
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f"drop database if exists {dbname} with (force)")
    ingest_rows_per_s = full.rows_loaded / full.seconds["ingest"]
    copy_rows_per_s = copy_rows / copy_seconds
    report = {
        "years": years,
        "provinces": provinces or "all",
        "files": len(paths),
        # a reused sample: its figure rows are what was loaded (target rows included)
        "figures": generated.figures if generated else full.rows_loaded + month.rows_loaded,
        "target_rows": generated.targets if generated else None,
        "sample_mb": round(generated.size_bytes / 1e6, 1) if generated else None,
        "seconds_generate": round(generate_seconds, 1),
        "new_month_sent_since": cutoff.date().isoformat(),
        "full_build": full.report(),
        "new_month": month.report(),
        "one_file": {
            **one.report(),
            "file": correction.path.name,
            "figure": f"{correction.unit} {correction.period} {correction.indicator}"
            f" {correction.program} = {correction.value}",
        },
        "new_month_share_of_full_build": round(month.total / full.total, 4),
        "target_new_month_share": TARGET_NEW_MONTH_SHARE,
        "peak_client_mb_full_build": max(full.client_peak_mb.values()),
        "peak_postgres_mb_full_build": max(
            (v for v in full.server_peak_mb.values() if v is not None), default=None
        ),
        "ingest_rows_per_s": round(ingest_rows_per_s),
        "ingest_ms_per_file": round(full.seconds["ingest"] / full.files * 1000, 1),
        "copy_rows": copy_rows,
        "copy_seconds": round(copy_seconds, 2),
        "copy_rows_per_s": round(copy_rows_per_s),
        "ingest_ratio_to_copy": round(ingest_rows_per_s / copy_rows_per_s, 3),
        "database_mb": size_mb,
        "machine": machine_info,
    }
    # a run over some provinces sits beside the whole country's, not over it
    key = "national" if provinces is None else "national_some_provinces"
    return write_report(output, key, report, source, summary(report))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", default=YEARS, help=f"years of history ({YEARS})")
    parser.add_argument(
        "--provinces",
        default=None,
        help="comma-separated codes of pre-2025 provinces (default: the whole country)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="results JSON to merge into")
    parser.add_argument(
        "--keep-files",
        type=Path,
        default=None,
        help="write the sample here and keep it (reused if the folder is not empty)",
    )
    args = parser.parse_args(argv)
    provinces = args.provinces.split(",") if args.provinces else None
    if args.keep_files:
        args.keep_files.mkdir(parents=True, exist_ok=True)
    run(args.years, provinces, args.output, args.keep_files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
