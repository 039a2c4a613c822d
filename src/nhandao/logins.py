"""The warehouse's own logins: their names, where their passwords come from, a URL logged in as
one of them, and the SCRAM-SHA-256 secrets their passwords are kept as (the password itself never
reaches the server). nhandao.access grants them their rights; nhandao.warehouse connects as them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from urllib.parse import quote, unquote, urlsplit

import psycopg
from psycopg import sql

LOADER = "nhandao_loader"
TRANSFORMER = "nhandao_transformer"
ANALYST = "nhandao_analyst"
QUERY = "nhandao_query"  # the login `nhandao query` runs as: an analyst of every province
RUNTIME_ROLES = (LOADER, TRANSFORMER, ANALYST)
OWN_LOGINS = (LOADER, TRANSFORMER, QUERY)
PASSWORD_VARIABLES = {
    LOADER: "NHANDAO_LOADER_PASSWORD",
    TRANSFORMER: "NHANDAO_TRANSFORMER_PASSWORD",
    QUERY: "NHANDAO_QUERY_PASSWORD",
}


def role_url(url: str, role: str, password: str | None = None) -> str:
    """The warehouse URL logged in as `role`; the password is given, or read from the role's
    variable (NHANDAO_LOADER_PASSWORD, NHANDAO_TRANSFORMER_PASSWORD, NHANDAO_QUERY_PASSWORD), or
    the URL's own when `role` is its user, or left to libpq (PGPASSWORD, the URL's `passfile`
    such as the embedded server's password file, ~/.pgpass)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a postgresql:// URL: {parts.scheme}://…")
    if password is None and role in PASSWORD_VARIABLES:
        password = os.environ.get(PASSWORD_VARIABLES[role]) or None
    if password is None and unquote(parts.username or "") == role:
        password = unquote(parts.password or "") or None
    userinfo = quote(role, safe="")
    if password:
        userinfo += ":" + quote(password, safe="")
    host = parts.netloc.rpartition("@")[2]
    # keep the other parameters exactly as written (libpq decodes %XX, not "+")
    query = "&".join(
        item
        for item in parts.query.split("&")
        if item and unquote(item.partition("=")[0]) not in ("user", "password")
    )
    return parts._replace(netloc=f"{userinfo}@{host}", query=query).geturl()


def scram_secret(password: str) -> str:
    """The SCRAM-SHA-256 secret Postgres stores for a password, computed here so the password
    itself never reaches the server (nor its logs)."""
    salt, iterations = os.urandom(16), 4096
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = base64.b64encode
    stored_key = hashlib.sha256(client_key).digest()
    return (
        f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}"
        f"${b64(stored_key).decode()}:{b64(server_key).decode()}"
    )


def password_literal(password: str) -> sql.Composable:
    # Postgres normalises non-ASCII passwords (SASLprep) before hashing: let it do so for those.
    return sql.Literal(scram_secret(password) if password.isascii() else password)


def scram_verifies(secret: str | None, password: str) -> bool:
    """True when the stored SCRAM-SHA-256 `secret` is that of `password` (ASCII passwords only:
    Postgres normalises others first, which this does not)."""
    if not secret or not secret.startswith("SCRAM-SHA-256$") or not password.isascii():
        return False
    try:
        iterations, salt = secret.split("$")[1].split(":")
        stored_key = secret.split("$")[2].split(":")[0]
        salted = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), base64.b64decode(salt), int(iterations)
        )
    except (IndexError, ValueError):
        return False
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    computed = base64.b64encode(hashlib.sha256(client_key).digest()).decode()
    return hmac.compare_digest(computed, stored_key)


def set_password(conn: psycopg.Connection, role: str, password: str) -> bool:
    """Give `role` this password unless it has it already (known only to a superuser); say if
    it changed. Only its SCRAM secret reaches the server."""
    is_superuser = conn.execute(
        "select rolsuper from pg_roles where rolname = current_user"
    ).fetchone()[0]
    if is_superuser:
        row = conn.execute("select rolpassword from pg_authid where rolname = %s", (role,))
        found = row.fetchone()
        if found is not None and scram_verifies(found[0], password):
            return False
    conn.execute(
        sql.SQL("alter role {} password {}").format(
            sql.Identifier(role), password_literal(password)
        )
    )
    return True
