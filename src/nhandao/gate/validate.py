"""The quality gate: Great Expectations suites from expectations/suites/ run on the audit build.

Write–audit–publish per province: a suite of a model published by province (dbt meta
`publish_slice`) is validated once per province slice, so a failed `critical` expectation holds
back that province only; a suite of a model published whole (a dimension) is validated once, and
its failure holds back everything. A failed `warning` is recorded only. Every result goes to
`monitoring.gate_results`, an HTML report of the run is written, and Data Docs are rebuilt.

A province's slice whose rows, and whose suite, are exactly those an earlier run judged is not
validated again: the run takes that judgement over (`validated_in` names the run that made it).
A fingerprint of each slice (its row count and the sum of a 64-bit hash of every row, with a
hash of the suite) is kept in `monitoring.gate_slices`. So a file that changes one province has
that province validated, not the whole country. What is left to validate is shared between this
process and worker processes (`python -m nhandao.gate.validate`) when there is enough of it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import uuid
from dataclasses import asdict
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import psycopg

from nhandao import dbt, settings
from nhandao.gate import report
from nhandao.gate.results import BLOCKING, ExpectationOutcome, GateFailed, GateResult
from nhandao.slices import Slice, Slicing, slice_keys, slice_sums, slicing


def sqlalchemy_url(url: str) -> str:
    """GX's SQLAlchemy engine needs a host in the URL even for a Unix socket (?host=/dir)."""
    parts = urlsplit(url)
    if parts.hostname:
        return url
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@localhost" if userinfo else "localhost"
    return parts._replace(netloc=netloc).geturl()


def load_suites(suites_dir: Path) -> list[dict]:
    """The suites as GX-format dicts, one per file, sorted by name."""
    suites = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(suites_dir.glob("*.json"))]
    if not suites:
        raise FileNotFoundError(f"no expectation suites in {suites_dir}")
    return suites


def _context(context_dir: Path):
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="file", project_root_dir=str(context_dir))
    context.variables.progress_bars = {"globally": False}
    _drop_empty_config_variables(context_dir)
    return context


def _drop_empty_config_variables(context_dir: Path) -> None:
    """Remove GX's scaffolded `config_variables.yml` while it holds no variable of ours.

    GX parses that file again each time it reads a setting: thousands of times a run, a
    quarter of a gate's time on year slices. What GX writes there (comments, and an
    `instance_id` for usage statistics, which it keeps in memory without the file) is not
    needed; a file someone filled in is left alone.
    """
    path = context_dir / "gx" / "uncommitted" / "config_variables.yml"
    if not path.is_file():
        return
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    if all(not line or line.startswith(("#", "instance_id:")) for line in lines):
        path.unlink()


def _slice_asset_name(schema: str, table: str, key: Slice) -> str:
    value, year = key
    return f"{schema}.{table}@{value}" + (f"@{year}" if year is not None else "")


def _add_slice_assets(context, datasource, queries: dict[str, str]):
    """Add a query asset, with its whole-table batch definition, for each slice not seen
    before (`queries`: asset name to query), and save the data source once.

    Great Expectations saves its whole configuration file for every asset and every batch
    definition added one by one: with a thousand slices, the file is half a megabyte and
    adding them took longer than validating them. Added together, they are one save.
    """
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.datasource.fluent.sql_datasource import QueryAsset

    known = set(datasource.get_asset_names())
    new = [
        QueryAsset(name=name, query=query, batch_definitions=[BatchDefinition(name="whole_table")])
        for name, query in queries.items()
        if name not in known
    ]
    if not new:
        return datasource
    for asset in new:
        for batch_definition in asset.batch_definitions:
            batch_definition.set_data_asset(asset)
    datasource.assets.extend(new)
    return context.data_sources.update_postgres(datasource)


def _validation_definition(
    context, datasource, suite, schema: str, table: str, name: str | None = None
):
    """Validate `suite` on schema.table, or on the slice asset `name` (see _add_slice_assets)."""
    import great_expectations as gx

    if name is None:
        name = f"{schema}.{table}"
        try:
            asset = datasource.get_asset(name)
        except LookupError:
            asset = datasource.add_table_asset(name=name, table_name=table, schema_name=schema)
    else:
        asset = datasource.get_asset(name)
    try:
        batch = asset.get_batch_definition("whole_table")
    except (KeyError, LookupError):
        batch = asset.add_batch_definition_whole_table("whole_table")
    return context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )


def _with_password(url: str, password: str | None) -> str:
    """`url` with its password replaced (None: removed); the rest exactly as written."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    netloc = f"{user}{':' + password if password else ''}@{host}" if at else host
    return parts._replace(netloc=netloc).geturl()


def gx_connection(url: str) -> tuple[str, str]:
    """The GX data source name and connection string for `url`, with no password in them.

    A password in the URL becomes a config variable, `${NHANDAO_GATE_PASSWORD_<name>}`, set in
    this process's environment (which gate workers inherit): GX substitutes it when it
    connects, and its configuration files keep only the variable's name. A URL naming a
    password file (`passfile=`, the embedded server's) needs neither.
    """
    password = urlsplit(url).password
    plain = _with_password(url, None)
    digest = hashlib.sha256(plain.encode()).hexdigest()[:10]
    connection_string = sqlalchemy_url(plain)
    if password:
        variable = f"NHANDAO_GATE_PASSWORD_{digest.upper()}"
        os.environ[variable] = quote(unquote(password), safe="")
        connection_string = _with_password(connection_string, "${" + variable + "}")
    return f"warehouse_{digest}", connection_string


def _forget_stored_passwords(context) -> None:
    """Replace any password an earlier nhandao wrote into GX's configuration with a variable."""
    for datasource in list(context.data_sources.all().values()):
        stored = str(getattr(datasource, "connection_string", "") or "")
        password = urlsplit(stored).password if "://" in stored else None
        if password and not password.startswith("${") and datasource.type == "postgres":
            _, datasource.connection_string = gx_connection(stored)
            context.data_sources.update_postgres(datasource)


def _datasource(context, url: str):
    """The GX data source of this warehouse, one per connection (user, server, database), kept
    between runs; no password is ever written into GX's configuration (see gx_connection).

    Its assets (a table, or a province's slice of it) are only ever added, never dropped, so
    the checkpoint stored by an earlier run, which names them, always loads again: replacing
    the data source would drop them, and a province absent from this run would make the
    stored checkpoint unreadable.
    """
    _forget_stored_passwords(context)
    name, connection_string = gx_connection(url)
    try:
        datasource = context.data_sources.get(name)
    except (KeyError, LookupError, ValueError):
        return context.data_sources.add_postgres(name=name, connection_string=connection_string)
    if str(datasource.connection_string) != connection_string:  # a password came or went
        datasource.connection_string = connection_string
        datasource = context.data_sources.update_postgres(datasource)
    return datasource


def _exception_message(item) -> str | None:
    """The error an expectation raised, if it raised one (GX keeps it beside the result)."""
    info = getattr(item, "exception_info", None) or {}
    candidates = [info, *(v for v in info.values() if isinstance(v, dict))]
    for candidate in candidates:
        if candidate.get("raised_exception") and candidate.get("exception_message"):
            return str(candidate["exception_message"])[:500]
    return None


def _slice_of(validation) -> Slice | tuple[None, None]:
    """The slice a validation ran on, from its asset's name (`schema.table@province[@year]`)."""
    asset = (validation.meta.get("active_batch_definition") or {}).get("data_asset_name") or ""
    _, province, year = (*asset.split("@"), None, None)[:3]
    return (province or None), (int(year) if year else None)


def _outcomes(checkpoint_result) -> list[ExpectationOutcome]:
    outcomes = []
    for validation in checkpoint_result.run_results.values():
        suite_name = validation.suite_name
        province_code, year = _slice_of(validation)
        for item in validation.results:
            config = item.expectation_config
            observed = item.result.get("observed_value")
            error = _exception_message(item)
            if error:  # an expectation that could not be evaluated fails, and says why
                observed = f"error: {error}"
            outcomes.append(
                ExpectationOutcome(
                    suite_name=suite_name,
                    expectation_type=config.type,
                    column=config.kwargs.get("column"),
                    severity=str(getattr(config, "severity", BLOCKING) or BLOCKING)
                    .lower()
                    .removeprefix("failureseverity."),
                    success=bool(item.success),
                    observed_value=None if observed is None else str(observed),
                    unexpected_count=item.result.get("unexpected_count"),
                    notes=(config.meta or {}).get("notes"),
                    province_code=province_code,
                    year=year,
                )
            )
    return outcomes


def _record(conn: psycopg.Connection, result: GateResult) -> None:
    with conn.transaction():
        conn.execute(
            "insert into monitoring.gate_runs (gate_run_id, success, data_docs_path,"
            " report_path, provinces_checked, provinces_held_back, global_failure)"
            " values (%s, %s, %s, %s, %s, %s, %s)",
            (
                result.gate_run_id,
                result.passed,
                str(result.data_docs_path or ""),
                str(result.report_path or ""),
                result.provinces,
                result.held_back_provinces,
                bool(result.global_failures),
            ),
        )
        with conn.cursor() as cur:
            cur.executemany(
                "insert into monitoring.gate_results (gate_run_id, province_code, year,"
                " suite_name, expectation_type, column_name, severity, success,"
                " observed_value, unexpected_count, notes, validated_in)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        result.gate_run_id,
                        o.province_code,
                        o.year,
                        o.suite_name,
                        o.expectation_type,
                        o.column,
                        o.severity,
                        o.success,
                        o.observed_value,
                        o.unexpected_count,
                        o.notes,
                        o.validated_in,
                    )
                    for o in result.outcomes
                ],
            )
            cur.executemany(
                "insert into monitoring.gate_slices (gate_run_id, suite_name, province_code,"
                " year, fingerprint, validated_in) values (%s, %s, %s, %s, %s, %s)",
                [(result.gate_run_id, *judged) for judged in result.slices],
            )


def resolve_table(suite_dict: dict, schema: str, table: str) -> dict:
    """The suite with `{table}` in its queries standing for the whole audited table: a rule
    may read from it the earlier years of its slice's province (GX fills `{batch}` itself)."""
    resolved = json.loads(json.dumps(suite_dict))
    for expectation in resolved.get("expectations", []):
        kwargs = expectation.get("kwargs", {})
        if isinstance(kwargs.get("unexpected_rows_query"), str):
            kwargs["unexpected_rows_query"] = kwargs["unexpected_rows_query"].replace(
                "{table}", f'"{schema}"."{table}"'
            )
    return resolved


def suite_fingerprint(suite_dict: dict) -> str:
    return hashlib.sha256(json.dumps(suite_dict, sort_keys=True).encode()).hexdigest()[:16]


def slice_fingerprints(
    conn: psycopg.Connection, schema: str, table: str, by: Slicing, keys: list[Slice], suite: str
) -> tuple[dict[Slice, str], dict[Slice, int]]:
    """A fingerprint of each slice's rows (count and sum of a 64-bit hash of each row's text),
    with the suite's: equal fingerprints, the same validation results. A year's fingerprint
    holds its province's earlier years too, which a rule may compare it with (`{table}`, see
    expectations/README.md). An empty slice has one. Also each slice's row count."""
    provinces = sorted({province for province, _ in keys})
    found = slice_sums(conn, schema, table, by, provinces)
    fingerprints = {}
    for key in keys:
        value, year = key
        text = f"{suite}:{found.get(key, (0, 0))}"
        if year is not None:
            earlier = sorted((y, rows) for (v, y), rows in found.items() if v == value and y < year)
            text += f":{earlier}"
        fingerprints[key] = hashlib.sha256(text.encode()).hexdigest()[:32]
    return fingerprints, {key: found.get(key, (0, 0))[0] for key in keys}


def _judged_before(
    conn: psycopg.Connection, suite_name: str, fingerprints: dict[Slice, str]
) -> dict[Slice, str]:
    """Slice → the run whose validation of this suite's slice still holds: the last run that
    judged the slice saw the same fingerprint."""
    latest = conn.execute(
        "select distinct on (slices.province_code, slices.year) slices.province_code,"
        " slices.year, slices.fingerprint, coalesce(slices.validated_in, slices.gate_run_id)"
        " from monitoring.gate_slices as slices"
        " inner join monitoring.gate_runs as runs on runs.gate_run_id = slices.gate_run_id"
        " where slices.suite_name = %s"
        " order by slices.province_code, slices.year, runs.started_at desc",
        (suite_name,),
    ).fetchall()
    return {
        (province, year): run
        for province, year, fingerprint, run in latest
        if fingerprints.get((province, year)) == fingerprint
    }


def _recorded_outcomes(
    conn: psycopg.Connection, suite_name: str, judged_in: dict[Slice, str]
) -> dict[Slice, list[ExpectationOutcome]]:
    """Slice → the results of this suite's slice recorded by the run that judged it."""
    rows = conn.execute(
        "select results.province_code, results.year, results.expectation_type,"
        " results.column_name, results.severity, results.success, results.observed_value,"
        " results.unexpected_count, results.notes, results.gate_run_id"
        " from monitoring.gate_results as results"
        " inner join unnest(%s::text[], %s::int[], %s::text[])"
        " as judged (province_code, year, gate_run_id)"
        " on judged.province_code = results.province_code"
        " and coalesce(judged.year, 0) = coalesce(results.year, 0)"
        " and judged.gate_run_id = results.gate_run_id"
        " where results.suite_name = %s",
        (
            [province for province, _ in judged_in],
            [year for _, year in judged_in],
            list(judged_in.values()),
            suite_name,
        ),
    ).fetchall()
    found: dict[Slice, list[ExpectationOutcome]] = {}
    for province, year, *fields, run in rows:
        found.setdefault((province, year), []).append(
            ExpectationOutcome(
                suite_name, *fields, province_code=province, year=year, validated_in=run
            )
        )
    return found


# What a validation weighs when sharing, in rows: each costs Great Expectations about 0.25 s
# whatever its size, and Postgres about 12 µs a row (ten provinces' new month, one process:
# 41 slices, 10.6 s; their full build: 321 slices, about a million rows, 92 s)
PER_VALIDATION_ROWS = 20_000
# a worker process starts this far behind: importing Great Expectations takes it 10-15 s
WORKER_START_ROWS = 1_200_000


def _row_estimate(conn: psycopg.Connection, schema: str, table: str) -> int:
    row = conn.execute(
        "select greatest(reltuples, 0)::bigint from pg_class"
        " where oid = to_regclass(format('%%I.%%I', %s::text, %s::text))",
        (schema, table),
    ).fetchone()
    return row[0] if row else 0


def _shares(
    definitions: list[tuple[int, object]], workers: int, start_rows: int | None = None
) -> list[list[object]]:
    """The validations split between this process (the first share) and up to `workers` - 1
    worker processes, each of which starts `start_rows` behind: largest first, each to the least
    loaded. Shares left empty are dropped, so a small gate stays in this process."""
    start = WORKER_START_ROWS if start_rows is None else start_rows
    shares: list[list[object]] = [[] for _ in range(max(1, workers))]
    loads = [0] + [start] * (len(shares) - 1)
    for rows, definition in sorted(definitions, key=lambda item: -item[0]):
        least = loads.index(min(loads))
        shares[least].append(definition)
        loads[least] += rows + PER_VALIDATION_ROWS
    return [share for share in shares if share]


def _run_checkpoint(context_dir: str, name: str, gate_run_id: str) -> list[ExpectationOutcome]:
    from great_expectations.core.run_identifier import RunIdentifier

    checkpoint = _context(Path(context_dir)).checkpoints.get(name)
    return _outcomes(checkpoint.run(run_id=RunIdentifier(run_name=gate_run_id)))


def _worker(context_dir: Path, name: str, gate_run_id: str, output: Path) -> subprocess.Popen:
    """`python -m nhandao.gate.validate CONTEXT CHECKPOINT RUN OUTPUT`: a process of its own (its
    own GX context and connections), which writes its outcomes to OUTPUT as JSON."""
    command = [sys.executable, "-m", "nhandao.gate.validate", str(context_dir), name, gate_run_id]
    return subprocess.Popen([*command, str(output)])


def _validate(
    context,
    context_dir: Path,
    datasource_name: str,
    definitions: list[tuple[int, object]],
    gate_run_id: str,
    workers: int,
) -> list[ExpectationOutcome]:
    """Run the validations, shared between this process and worker processes when there is
    enough to share (`workers` processes in all; each runs a stored checkpoint of its share),
    and rebuild Data Docs once."""
    import great_expectations as gx

    if not definitions:
        return []
    names = []
    for number, share in enumerate(_shares(definitions, workers)):
        name = f"publish_gate_{datasource_name}" + (f"_{number}" if number else "")
        context.checkpoints.add_or_update(
            gx.Checkpoint(name=name, validation_definitions=share, result_format="SUMMARY")
        )
        names.append(name)
    with tempfile.TemporaryDirectory(prefix="nhandao-gate-") as tmp:
        outputs = [Path(tmp) / f"{name}.json" for name in names[1:]]
        workers = [  # started first: they import while this process validates its share
            _worker(context_dir, name, gate_run_id, output)
            for name, output in zip(names[1:], outputs, strict=True)
        ]
        try:
            outcomes = _run_checkpoint(str(context_dir), names[0], gate_run_id)
        except BaseException:
            for worker in workers:
                worker.kill()
            raise
        for worker, name, output in zip(workers, names[1:], outputs, strict=True):
            if worker.wait():
                raise RuntimeError(f"gate checkpoint {name} failed (exit {worker.returncode})")
            fields = json.loads(output.read_text(encoding="utf-8"))
            outcomes += [ExpectationOutcome(**outcome) for outcome in fields]
    _build_docs(context, gate_run_id, {definition.suite.name for _, definition in definitions})
    return outcomes


def _build_docs(context, gate_run_id: str, suite_names: set[str]) -> None:
    """Render this run's validation results and the suites into Data Docs, and the index.

    Only these: rendering every result ever stored would take longer with every run."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    this_run = [
        key
        for key in context.validation_results_store.list_keys()
        if key.run_id.run_name == gate_run_id
    ]
    suites = [ExpectationSuiteIdentifier(name=name) for name in sorted(suite_names)]
    # a set: GX tests each stored result for membership, which a list makes quadratic
    context.build_data_docs(resource_identifiers={*this_run, *suites})


def run_gate(
    url: str,
    suites_dir: Path | None = None,
    context_dir: Path | None = None,
    schema: str = "audit",
    gate_run_id: str | None = None,
    slices: dict[str, str | None] | None = None,
    workers: int | None = None,
    years: dict[str, str] | None = None,
) -> GateResult:
    """Validate every suite against `schema`, slice by slice; record, report, rebuild Data Docs.

    `slices` maps a table to the column it is published by, `years` a table sliced by year
    too to the column that gives it (default: the dbt models' meta); `workers`, the processes
    the validations may be shared between (default: `settings.gate_workers()`).
    """
    import great_expectations as gx

    suites = load_suites(suites_dir or settings.expectations_dir() / "suites")
    slices = dbt.published_slices() if slices is None else slices
    years = dbt.published_years() if years is None else years
    context_dir = context_dir or settings.home_dir() / "gx"
    context = _context(context_dir)
    datasource = _datasource(context, url)
    definitions: list[tuple[int, object]] = []  # (rows it validates, validation definition)
    provinces: set[str] = set()
    reused: list[ExpectationOutcome] = []
    judged: list[tuple[str, str, int | None, str, str | None]] = []
    slice_queries: dict[str, str] = {}  # the slices to validate: asset name to query
    pending: list[tuple[int, object, str, str]] = []  # (rows, suite, table, asset name)
    with psycopg.connect(url) as conn:
        for suite_dict in suites:
            table = suite_dict["name"].split(".", 1)[1]
            suite = context.suites.add_or_update(
                gx.ExpectationSuite(**resolve_table(suite_dict, schema, table))
            )
            column = slices.get(table)
            if column is None:
                definitions.append(
                    (
                        _row_estimate(conn, schema, table),
                        _validation_definition(context, datasource, suite, schema, table),
                    )
                )
                continue
            by = slicing(conn, schema, table, column, years.get(table))
            keys = slice_keys(conn, schema, table, by)
            provinces.update(value for value, _ in keys)
            fingerprints, counts = slice_fingerprints(
                conn, schema, table, by, keys, suite_fingerprint(suite_dict)
            )
            before = _judged_before(conn, suite_dict["name"], fingerprints)
            recorded = _recorded_outcomes(conn, suite_dict["name"], before)
            for key in keys:
                if outcomes := recorded.get(key):
                    reused.extend(outcomes)
                    judged.append((suite_dict["name"], *key, fingerprints[key], before[key]))
                    continue
                name = _slice_asset_name(schema, table, key)
                slice_queries[name] = f"select * from {schema}.{table} where {by.condition(*key)}"
                pending.append((counts[key], suite, table, name))
                judged.append((suite_dict["name"], *key, fingerprints[key], None))
    datasource = _add_slice_assets(context, datasource, slice_queries)
    definitions += [
        (rows, _validation_definition(context, datasource, suite, schema, table, name))
        for rows, suite, table, name in pending
    ]
    gate_run_id = gate_run_id or f"gate_{uuid.uuid4().hex[:12]}"
    workers = settings.gate_workers() if workers is None else workers
    validated = _validate(context, context_dir, datasource.name, definitions, gate_run_id, workers)
    docs = next(iter(context.get_docs_sites_urls()), {}).get("site_url", "")
    result = GateResult(
        gate_run_id=gate_run_id,
        outcomes=validated + reused,
        data_docs_path=Path(docs.removeprefix("file://")) if docs else None,
        provinces=sorted(provinces),
        slices=judged,
    )
    result.report_path = report.write(result, settings.reports_dir() / "gate")
    with psycopg.connect(url) as conn:
        _record(conn, result)
    return result


def enforce(result: GateResult) -> GateResult:
    """Raise GateFailed if nothing can be published; return the result otherwise.

    Provinces held back by a blocking failure in their own slice do not stop the others.
    """
    if not result.can_publish:
        raise GateFailed(result)
    return result


if __name__ == "__main__":  # a gate worker: see _worker
    outcomes = _run_checkpoint(*sys.argv[1:4])
    Path(sys.argv[4]).write_text(json.dumps([asdict(o) for o in outcomes]), encoding="utf-8")
