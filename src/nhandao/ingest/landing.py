"""The landing zone, read through Airflow's ObjectStoragePath: a local folder today, an object
store by configuration (NHANDAO_LANDING=s3://conn_id@bucket/landing).

New files sit at the top of the zone. After loading, a file moves to `processed/` (loaded, or a
duplicate of a file already loaded) or `rejected/`, renamed `<file_id>-<name>` so that versions
with the same name never overwrite each other, with its rejection report beside it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nhandao import settings, warehouse
from nhandao.ingest import files, load, rejection_report

PROCESSED = "processed"
REJECTED = "rejected"


def root(url: str | None = None):
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(url or settings.landing_url())


def pending(url: str | None = None) -> list[str]:
    """URLs of the files waiting at the top of the landing zone, by name."""
    zone = root(url)
    if not zone.exists():
        return []
    return sorted(
        str(item)
        for item in zone.iterdir()
        if item.is_file() and not item.name.startswith(".") and not rejection_report.is_report(item)
    )


@contextmanager
def local_copy(item) -> Iterator[Path]:
    """The object as a local file: itself for a local folder, else a temporary download."""
    if item.protocol in ("file", "local"):
        yield Path(item.path)
        return
    with tempfile.TemporaryDirectory(prefix="nhandao-") as tmp:
        local = Path(tmp) / item.name
        with item.open("rb") as src, open(local, "wb") as dst:
            shutil.copyfileobj(src, dst, files.COPY_CHUNK)
        modified = item.stat().get("mtime") or item.stat().get("LastModified")
        if modified is not None:  # keep when the object landed: timeliness is judged on it
            stamp = modified.timestamp() if hasattr(modified, "timestamp") else float(modified)
            os.utime(local, (stamp, stamp))
        yield local


def _file_away(conn, item, result: load.IngestResult) -> str:
    """Move a processed file into processed/ or rejected/, with its report beside it."""
    folder = item.parent / (REJECTED if result.status == "rejected" else PROCESSED)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{result.file_id}-{item.name}"
    item.move(str(target))
    if result.status == "rejected" or result.rows_rejected:
        with tempfile.TemporaryDirectory(prefix="nhandao-") as tmp:
            for written in rejection_report.write_rejection_report(conn, result.file_id, Path(tmp)):
                (folder / f"{result.file_id}-{written.name}").write_bytes(written.read_bytes())
    return str(target)


def process(urls: list[str], warehouse_url: str) -> list[tuple[load.IngestResult, str]]:
    """Load each landed file in its own transaction and file it away; (result, new URL) each."""
    done = []
    with warehouse.connect(warehouse_url, autocommit=True) as conn:
        for url in urls:
            item = root(url)
            with local_copy(item) as local:
                result = load.ingest_file(conn, local, write_report=False)
            done.append((result, _file_away(conn, item, result)))
    return done
