"""Two loaders on the same new file, as two `nhandao ingest` processes: it loads once, the other
process says it was loaded by another process and goes on with its other files."""

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from conftest import rows

from nhandao import submission_format

HEADER = ",".join(submission_format.COLUMNS)
NHANDAO = Path(sys.executable).with_name("nhandao")
# how long to wait for both loaders to reach the lock: long, so a busy machine never fails it
PATIENCE_SECONDS = 600


def district_file(path: Path, period: str, blood_units: int) -> Path:
    path.write_text(
        f"{HEADER}\n492,,{period},blood_units,{blood_units},,blood_donation,\n"
        f"492,,{period},blood_drives,3,,blood_donation,\n",
        encoding="utf-8",
    )
    return path


def waiting_loaders(url: str) -> int:
    """Backends of this database waiting for a lock (advisory or on a table)."""
    return rows(
        url,
        "select count(*) from pg_stat_activity where datname = current_database()"
        " and wait_event_type = 'Lock' and pid <> pg_backend_pid()",
    )[0][0]


def test_two_processes_load_the_same_new_file_once(warehouse_url, tmp_path):
    shared = district_file(tmp_path / "492-2024M03.csv", "2024M03", 120)
    first_own = district_file(tmp_path / "492-2024M04.csv", "2024M04", 130)
    second_own = district_file(tmp_path / "492-2024M05.csv", "2024M05", 140)
    env = {**os.environ, "NHANDAO_WAREHOUSE_URL": warehouse_url}

    # Hold back every loader at the moment it records a file, so both have started loading the
    # shared file before either commits: the race two real processes can run into.
    with psycopg.connect(warehouse_url) as gate:
        gate.execute("lock table raw.submission_files in share row exclusive mode")
        loaders = [
            subprocess.Popen(
                [str(NHANDAO), "ingest", str(shared), str(own)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for own in (first_own, second_own)
        ]
        deadline = time.monotonic() + PATIENCE_SECONDS
        while waiting_loaders(warehouse_url) < 2:
            assert all(p.poll() is None for p in loaders), [p.communicate() for p in loaders]
            assert time.monotonic() < deadline, "the loaders never reached the lock"
            time.sleep(0.2)
        gate.rollback()  # let them go
    outcomes = [p.communicate() for p in loaders]

    assert [p.returncode for p in loaders] == [0, 0], outcomes
    assert all("Traceback" not in err for _, err in outcomes), outcomes
    shared_lines = sorted(out.splitlines()[0] for out, _ in outcomes)
    assert shared_lines[0].startswith("loaded    492-2024M03.csv: 2 rows")
    assert shared_lines[1].startswith(
        "skipped   492-2024M03.csv: loaded by another process (same sha256) as file"
    )
    assert [out.splitlines()[1].split()[:2] for out, _ in outcomes] == [
        ["loaded", "492-2024M04.csv:"],
        ["loaded", "492-2024M05.csv:"],
    ]
    # raw holds the shared file once, with its two figures once
    assert rows(
        warehouse_url,
        "select files.file_name, count(*) from raw.submission_files as files"
        " join raw.submission_rows as figures using (file_id)"
        " group by files.file_id, files.file_name order by files.file_name",
    ) == [("492-2024M03.csv", 2), ("492-2024M04.csv", 2), ("492-2024M05.csv", 2)]
