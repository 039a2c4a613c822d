"""The `nhandao` command: generate, ingest, query, demo and the plumbing make uses."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _generate(args: argparse.Namespace) -> int:
    from nhandao.generate import generate_province, parse_years

    files = generate_province(args.province, parse_years(args.years), Path(args.out), args.seed)
    print(f"wrote {len(files)} files to {args.out}")
    return 0


def _template(args: argparse.Namespace) -> int:
    from nhandao.excel import write_template

    try:
        path = write_template(args.unit, args.period, Path(args.out), args.program)
    except ValueError as exc:
        print(f"nhandao template: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


def _ingest(args: argparse.Namespace) -> int:
    from nhandao import ingest, warehouse

    paths = [Path(p) for p in args.paths]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"nhandao ingest: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    results = ingest.ingest_paths(paths, warehouse.ensure_warehouse())
    for result in results:
        print(result.line())
    return 1 if any(r.status == "rejected" for r in results) else 0


def _query(args: argparse.Namespace) -> int:
    import psycopg

    from nhandao import query, warehouse

    url = warehouse.ensure_warehouse()
    try:
        with warehouse.connect(url) as conn:
            columns, rows = query.run_query(conn, args.sql)
    except psycopg.Error as exc:
        print(f"nhandao query: {exc}".rstrip(), file=sys.stderr)
        return 1
    print(query.as_csv(columns, rows) if args.csv else query.as_table(columns, rows), end="")
    if not args.csv:
        print(f"\n({len(rows)} rows)")
    return 0


def _summary(args: argparse.Namespace) -> int:
    from nhandao import query, warehouse

    with warehouse.connect(warehouse.ensure_warehouse()) as conn:
        print(query.district_year_summary(conn))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from nhandao.demo import DagRunFailed, run_demo
    from nhandao.generate import parse_years

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nhandao", description="The humanitarian-reporting warehouse."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="write realistic sample submissions (CSV v1)")
    gen.add_argument("--province", required=True, help="GSO province code, e.g. 48 (Đà Nẵng)")
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
        "ingest", help="load submission files (.csv, .xlsx) into raw, as the DAG does"
    )
    ing.add_argument("paths", nargs="+", help="submission files")
    ing.set_defaults(func=_ingest)

    qry = commands.add_parser("query", help="run a read-only SQL query against the warehouse")
    qry.add_argument("sql", help='e.g. "select * from marts.fct_blood_units limit 5"')
    qry.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    qry.set_defaults(func=_query)

    summ = commands.add_parser("summary", help="blood units and aid value per district and year")
    summ.set_defaults(func=_summary)

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
