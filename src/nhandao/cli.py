"""The `nhandao` command: generate, ingest, query, demo and the plumbing make uses."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from nhandao import logins


def _generate(args: argparse.Namespace) -> int:
    from nhandao.sample.generate import generate_province, national_run, parse_years

    years = parse_years(args.years)
    try:
        if args.national:
            provinces = args.provinces.split(",") if args.provinces else None
            run = national_run(Path(args.out), years, args.seed, provinces)
            print(
                f"wrote {len(run.paths)} files to {args.out}: {run.figures:,} figures,"
                f" {run.targets:,} targets, {run.size_bytes / 1e6:,.1f} MB"
            )
            return 0
        if args.provinces:
            print("nhandao generate: --provinces goes with --national", file=sys.stderr)
            return 2
        files = generate_province(args.province, years, Path(args.out), args.seed)
    except ValueError as exc:
        print(f"nhandao generate: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(files)} files to {args.out}")
    return 0


def _template(args: argparse.Namespace) -> int:
    from nhandao.ingest.excel_form import write_template

    try:
        path = write_template(args.unit, args.period, Path(args.out), args.program)
    except ValueError as exc:
        print(f"nhandao template: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


def _loader_url(command: str) -> str | None:
    """The URL to write raw with: the loader role's (None, after saying why, if it is not set
    up), or the warehouse's own with NHANDAO_RUN_AS_ROLES=false."""
    from nhandao import settings, warehouse

    url = warehouse.ensure_warehouse()
    if not settings.run_as_roles():
        return url
    return _role_url(command, logins.LOADER)


def _role_url(command: str, role: str) -> str | None:
    """The URL logging in as `role`; None, after saying why, when the roles are not set up."""
    from nhandao import warehouse

    url = warehouse.runtime_url(role)
    try:
        warehouse.check_runtime(url)
    except warehouse.NotSetUp as exc:
        print(f"nhandao {command}: {exc}", file=sys.stderr)
        return None
    return url


def _ingest(args: argparse.Namespace) -> int:
    from nhandao.ingest import load

    paths = [Path(p) for p in args.paths]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"nhandao ingest: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    url = _loader_url("ingest")
    if url is None:
        return 2
    results = load.ingest_paths(paths, url)
    for result in results:
        print(result.line())
        for detail in result.details():
            print(f"          {detail}")
        for report in result.report_paths:
            print(f"          report: {report}")
    print(load.outcome(results))
    return 1 if any(r.status == "rejected" for r in results) else 0


def _extract(args: argparse.Namespace) -> int:
    from nhandao.ingest import narrative

    path = Path(args.path)
    if not path.is_file():
        print(f"nhandao extract: no such file: {path}", file=sys.stderr)
        return 2
    try:
        figures = narrative.extract_file(path)
    except narrative.UnreadableReport as exc:
        print(f"nhandao extract: {exc}", file=sys.stderr)
        return 2
    if args.format == "csv":
        print(narrative.figures_csv(figures), end="")
    else:
        print(narrative.figures_json(figures))
    return 0


def _review(args: argparse.Namespace) -> int:
    import getpass

    from tabulate import tabulate

    from nhandao import warehouse
    from nhandao.ingest import review

    url = _loader_url("review")  # decisions are appended to raw, which only the loader writes
    if url is None:
        return 2
    try:
        with warehouse.connect(url) as conn:
            if args.review_command == "list":
                figures = review.list_figures(conn, args.file, args.status)
            else:
                decision = "accepted" if args.review_command == "accept" else "rejected"
                by = args.by or getpass.getuser()
                done = review.decide(conn, args.file_id, decision, args.figures, by, args.note)
    except review.ReviewError as exc:
        print(f"nhandao review: {exc}", file=sys.stderr)
        return 2
    if args.review_command != "list":
        label = "đã chấp nhận / accepted" if done.decision == "accepted" else "đã loại / rejected"
        if not done.figure_numbers:
            print(f"tệp / file {done.file_id}: không còn số liệu chờ xem xét / nothing to review")
        else:
            numbers = ", ".join(map(str, done.figure_numbers))
            print(f"{label}: tệp / file {done.file_id}, số liệu / figures {numbers}")
        for indicator, numbers in sorted(done.added_up.items()):
            print(
                f"lưu ý / note: {indicator} {', '.join(map(str, numbers))} được cộng lại / are"
                " added up in the facts"
            )
        print("có hiệu lực từ lần dựng kho tiếp theo / takes effect at the next build")
        return 0
    if not figures:
        print("không có số liệu nào / no figures")
        return 0

    def short(text: str, around: str, width: int = 60) -> str:
        """The sentence, cut to `width` characters around the figure's words."""
        if len(text) <= width:
            return text
        at = max(0, min(text.find(around) - width // 3, len(text) - width))
        end = at + width
        return ("…" if at else "") + text[at:end].strip() + ("…" if end < len(text) else "")

    table = [
        [
            f.file_id,
            f.figure_number,
            f.reporting_unit_code,
            f.period_code,
            f.indicator_code,
            format(f.value.normalize(), "f"),
            f.qualifier,
            f.status,
            f.text,
            short(" ".join(f.sentence.split()), f.text),
        ]
        for f in figures
    ]
    headers = [
        "tệp\nfile",
        "số\nno.",
        "đơn vị\nunit",
        "kỳ\nperiod",
        "chỉ tiêu\nindicator",
        "giá trị\nvalue",
        "độ chính xác\nqualifier",
        "trạng thái\nstatus",
        "viết là\nas written",
        "trong câu\nin the sentence",
    ]
    print(tabulate(table, headers=headers, disable_numparse=True))
    print(f"\n({len(figures)} số liệu / figures)")
    return 0


def _query(args: argparse.Namespace) -> int:
    """Run one statement as a plain analyst login (nhandao_query, or --login), read-only."""
    from nhandao.access import query

    found = _read_marts("query", args.login, lambda conn: query.run_query(conn, args.sql))
    if isinstance(found, int):
        return found
    columns, rows = found
    print(query.as_csv(columns, rows) if args.csv else query.as_table(columns, rows), end="")
    if not args.csv:
        print(f"\n({len(rows)} rows)")
    return 0


def _summary(args: argparse.Namespace) -> int:
    """The district-year table, read from marts as `nhandao query` reads them."""
    from nhandao.access import query

    found = _read_marts("summary", args.login, query.district_year_summary)
    if isinstance(found, int):
        return found
    print(found)
    return 0


def _read_marts(command: str, login: str | None, read):
    """What `read(conn)` returns, connected as the analyst login; on failure, the exit status
    (2: the statement was refused, 1: Postgres said no) after saying why."""
    import psycopg

    from nhandao.access import query

    try:
        with query.connect_reader(login) as conn:
            return read(conn)
    except query.QueryRefused as exc:
        print(f"nhandao {command}: {exc}", file=sys.stderr)
        return 2
    except psycopg.Error as exc:
        print(f"nhandao {command}: {exc}".rstrip(), file=sys.stderr)
        return 1


REVISION_DAYS = 30  # `nhandao status` lists the resubmissions published this recently


def _monitor_connection(command: str):
    """A read-only connection for status and report: they read `monitoring`, `raw`'s load
    times and the marts' completeness, which no analyst may, so they log in as the transformer
    (whose monitor task writes the same page), or as the URL's user with roles off. None, after
    saying why, when the roles are not set up."""
    from nhandao import settings, warehouse

    url = warehouse.reader_url()
    if settings.run_as_roles():
        url = _role_url(command, logins.TRANSFORMER)
        if url is None:
            return None
    return warehouse.connect(url, options="-c default_transaction_read_only=on")


def _status(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from nhandao.gate.report import local_time as when
    from nhandao.monitor import completeness

    conn = _monitor_connection("status")
    if conn is None:
        return 2
    with conn:
        states = completeness.province_states(conn)
        revisions = completeness.recent_revisions(conn, days=REVISION_DAYS)
    if not states:
        print("no province loaded yet")
        return 0

    table = [
        [
            f"{s.province_code} {s.province_name}",
            when(s.last_loaded_at),
            when(s.last_published_at),
            "-"
            if s.last_gate_run_id is None
            else ("HELD BACK" if s.held_back else "passed")
            + (f", {s.warnings} warnings" if s.warnings else ""),
            s.current_period or "-",
            f"{s.current_received}/{s.current_expected} ({s.completeness_pct}%)"
            if s.current_expected
            else "-",
        ]
        for s in states
    ]
    headers = ["province", "last load (VN)", "last published", "last gate", "period", "received"]
    print(tabulate(table, headers=headers))
    for s in states:
        if s.held_back:
            print(
                f"\n{s.province_code} {s.province_name}: held back since {when(s.held_back_since)}"
            )
            for rule in s.blocking_rules:
                print(f"  - {rule}")
    if revisions:
        print(f"\nresubmissions published in the last {REVISION_DAYS} days:")
        for revision in revisions:
            print(f"  {revision.province_code} {revision.line()}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from nhandao.monitor import status_page

    conn = _monitor_connection("report")
    if conn is None:
        return 2
    with conn:
        print(f"wrote {status_page.write(conn, Path(args.out))}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from nhandao.sample.demo import DagRunFailed, run_demo
    from nhandao.sample.generate import parse_years

    try:
        run_demo(args.province, parse_years(args.years), args.seed)
    except DagRunFailed as exc:
        print(f"nhandao demo: {exc}", file=sys.stderr)
        return 1
    return 0


def _dbt_parse(args: argparse.Namespace) -> int:
    from nhandao import dbt

    print(f"wrote {dbt.parse()}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    """Stop the embedded server (the warehouse when NHANDAO_WAREHOUSE_URL is unset)."""
    from nhandao import warehouse

    if not warehouse.is_embedded():
        print("nhandao stop: the warehouse is NHANDAO_WAREHOUSE_URL's server, not nhandao's own")
        return 0
    stopped = warehouse.stop_embedded_server()
    where = warehouse.embedded_data_dir()
    print(f"stopped the embedded warehouse ({where})" if stopped else f"not running ({where})")
    return 0


def _warehouse_url(args: argparse.Namespace) -> int:
    from nhandao import warehouse

    print(warehouse.ensure_warehouse())
    return 0


def _env(args: argparse.Namespace) -> int:
    import shlex

    from nhandao import dbt, settings

    bin_dir = Path(sys.executable).parent
    exports = {**settings.airflow_environment(), **dbt.dbt_env()}
    exports["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    for key, value in exports.items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def _roles_run(action) -> int:
    """Run an access action as the admin (the warehouse URL's user); print what it returns."""
    from nhandao import warehouse
    from nhandao.access import roles

    try:
        with warehouse.connect(warehouse.ensure_warehouse(), autocommit=True) as conn:
            print("\n".join(action(conn)))
    except roles.AccessError as exc:
        print(f"nhandao roles: {exc}", file=sys.stderr)
        return 2
    return 0


def _roles_setup(args: argparse.Namespace) -> int:
    from nhandao.access import roles

    return _roles_run(roles.ensure_roles)


def _roles_grant_analyst(args: argparse.Namespace) -> int:
    from nhandao.access import roles

    password = None
    if args.password_env:
        password = os.environ.get(args.password_env)
        if not password:
            print(f"nhandao roles: {args.password_env} is not set", file=sys.stderr)
            return 2
    return _roles_run(lambda conn: [roles.grant_analyst(conn, args.login, args.province, password)])


def _roles_show(args: argparse.Namespace) -> int:
    from nhandao.access import roles

    return _roles_run(lambda conn: [roles.show(conn)])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nhandao", description="The humanitarian-reporting warehouse."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="write realistic sample submissions (CSV v1)")
    scope = gen.add_mutually_exclusive_group(required=True)
    scope.add_argument("--province", help="GSO province code, e.g. 48 (Đà Nẵng)")
    scope.add_argument(
        "--national",
        action="store_true",
        help="every reporting unit of the map of each month, with year-to-date, campaign and"
        " target files, resubmissions, late and missing reports",
    )
    gen.add_argument(
        "--provinces",
        help="with --national: only these provinces (codes before the 2025 reform, e.g. 48,49),"
        " and after 1 July 2025 the new provinces their units went to",
    )
    gen.add_argument("--years", default="2019-2024", help="a year or a range, e.g. 2019-2024")
    gen.add_argument("--out", required=True, help="folder to write the files into")
    gen.add_argument("--seed", type=int, default=1, help="random seed (same seed, same files)")
    gen.set_defaults(func=_generate)

    tpl = commands.add_parser("template", help="write the blank Excel form a unit fills in")
    tpl.add_argument("--unit", required=True, help="GSO code of the reporting unit, e.g. 492")
    tpl.add_argument("--period", required=True, help="period code, e.g. 2024M09 or 2024YTD09")
    tpl.add_argument("--program", default="general", help="program code (default general)")
    tpl.add_argument("--out", required=True, help="the .xlsx file to write")
    tpl.set_defaults(func=_template)

    ing = commands.add_parser(
        "ingest",
        help="load submission files (.csv, .xlsx, narrative .docx/.md/.txt) into raw",
    )
    ing.add_argument("paths", nargs="+", help="submission files")
    ing.set_defaults(func=_ingest)

    ext = commands.add_parser(
        "extract", help="read the figures out of a narrative report (.txt, .md, .docx)"
    )
    ext.add_argument("path", help="the report")
    ext.add_argument("--format", choices=["json", "csv"], default="json", help="default json")
    ext.set_defaults(func=_extract)

    rev = commands.add_parser(
        "review", help="figures read from narrative reports: list them, accept or reject them"
    )
    rev_commands = rev.add_subparsers(dest="review_command", required=True)
    rev_list = rev_commands.add_parser("list", help="figures and their review status")
    rev_list.add_argument("--file", type=int, metavar="FILE_ID", help="only this file's figures")
    rev_list.add_argument(
        "--status",
        choices=["needs_review", "accepted", "rejected", "all"],
        default="needs_review",
        help="default needs_review",
    )
    rev_list.set_defaults(func=_review)
    for verb, meaning in (
        ("accept", "they count from the next build"),
        ("reject", "they never count"),
    ):
        decide = rev_commands.add_parser(verb, help=f"{verb} figures of a file: {meaning}")
        decide.add_argument("file_id", type=int, help="the file's id (see review list)")
        decide.add_argument(
            "figures",
            type=int,
            nargs="*",
            metavar="FIGURE_NUMBER",
            help="the figures (default: every figure of the file not decided yet)",
        )
        decide.add_argument("--note", help="why, kept with the decision")
        decide.add_argument("--by", help="who decides (default: your login name)")
        decide.set_defaults(func=_review)

    login_help = (
        "the analyst login to run as (default nhandao_query, every province); its password from"
        " PGPASSWORD or a password file (embedded: .nhandao/pgpass)"
    )
    qry = commands.add_parser(
        "query", help="run one read-only SQL statement on the marts, as an analyst login"
    )
    qry.add_argument("sql", help='e.g. "select * from marts.fct_blood_units limit 5"')
    qry.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    qry.add_argument("--login", help=login_help)
    qry.set_defaults(func=_query)

    summ = commands.add_parser("summary", help="blood units and aid value per district and year")
    summ.add_argument("--login", help=login_help)
    summ.set_defaults(func=_summary)

    status = commands.add_parser(
        "status",
        help="per province: last load, last gate result, held-back slices, completeness",
    )
    status.set_defaults(func=_status)

    report = commands.add_parser("report", help="write the HTML status page for provincial IT")
    report.add_argument("--out", required=True, help="folder to write index.html into")
    report.set_defaults(func=_report)

    demo = commands.add_parser("demo", help="run the whole pipeline on one province")
    demo.add_argument("--province", default="48", help="GSO province code (default 48, Đà Nẵng)")
    demo.add_argument("--years", default="2019-2024")
    demo.add_argument("--seed", type=int, default=1)
    demo.set_defaults(func=_demo)

    parse = commands.add_parser("dbt-parse", help="build dbt_project/target/manifest.json")
    parse.set_defaults(func=_dbt_parse)

    env = commands.add_parser(
        "env", help="print shell exports for running airflow and dbt on this warehouse"
    )
    env.set_defaults(func=_env)

    url = commands.add_parser("warehouse-url", help="start the warehouse if needed; print its URL")
    url.set_defaults(func=_warehouse_url)

    stop = commands.add_parser("stop", help="stop this checkout's embedded warehouse server")
    stop.set_defaults(func=_stop)

    roles = commands.add_parser("roles", help="Postgres roles: loader, transformer, analysts")
    roles_commands = roles.add_subparsers(dest="roles_command", required=True)
    roles_setup = roles_commands.add_parser(
        "setup", help="create the roles and grant their rights (run as the admin)"
    )
    roles_setup.set_defaults(func=_roles_setup)
    roles_grant = roles_commands.add_parser(
        "grant-analyst", help="create or update an analyst login, scoped to provinces or not"
    )
    roles_grant.add_argument("login", help="the analyst's login name, e.g. analyst_danang")
    roles_grant.add_argument(
        "--province",
        action="append",
        help="GSO code of a province the analyst sees (repeat it); none: every province",
    )
    roles_grant.add_argument(
        "--password-env", metavar="VAR", help="environment variable holding the login's password"
    )
    roles_grant.set_defaults(func=_roles_grant_analyst)
    roles_show = roles_commands.add_parser("show", help="who can do what in the warehouse")
    roles_show.set_defaults(func=_roles_show)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
