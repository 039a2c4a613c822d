"""What provincial IT watches: per province, the last load, the last gate result, what is held
back, and who has not reported. Read live by `nhandao status`, kept as snapshots in
`monitoring.*` by the monitor_reporting DAG, and drawn by `nhandao report`.

Completeness comes from the published `marts.mart_reporting_completeness`; loads from `raw`;
gate results and publications from `monitoring`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime

import psycopg

from nhandao import reference
from nhandao.submission_format import VIETNAM

RECENT_PERIODS = 3  # late and missing reports are listed for this many periods due


@dataclass
class ProvinceState:
    province_code: str
    province_name: str
    last_loaded_at: datetime | None = None
    last_published_at: datetime | None = None
    last_gate_run_id: str | None = None
    last_gate_at: datetime | None = None
    held_back: bool = False
    held_back_since: datetime | None = None
    blocking_rules: list[str] = field(default_factory=list)
    warnings: int = 0
    current_period: str | None = None
    current_expected: int = 0
    current_received: int = 0
    current_on_time: int = 0

    @property
    def completeness_pct(self) -> float | None:
        if not self.current_expected:
            return None
        return round(100 * self.current_received / self.current_expected, 1)


@dataclass(frozen=True)
class Revision:
    """What one published resubmission (a file) did to the figures of a province."""

    province_code: str
    file_id: int
    file_name: str
    revised_at: datetime
    rows_rejected: int
    added: int
    changed: int
    withdrawn: int
    kept: int
    kept_from: list[str]  # "version 1 (file 7)"

    def line(self) -> str:
        parts = [
            f"{count} {what}"
            for count, what in (
                (self.changed, "changed"),
                (self.added, "added"),
                (self.withdrawn, "withdrawn"),
                (self.kept, f"kept from {', '.join(self.kept_from)}"),
            )
            if count
        ]
        if parts:
            count, _, what = parts[0].partition(" ")
            parts[0] = f"{count} figure{'' if count == '1' else 's'} {what}"
        rejected = f" ({self.rows_rejected} row(s) rejected)" if self.rows_rejected else ""
        return f"file {self.file_id} {self.file_name}{rejected}: {', '.join(parts)}"


RECENT_REVISIONS_SQL = """
select
    revisions.current_province_code,
    revisions.submission_file_id,
    files.file_name,
    max(revisions.revised_at),
    max(files.rejected_row_count),
    count(*) filter (where change_type = 'added'),
    count(*) filter (where change_type = 'changed'),
    count(*) filter (where change_type = 'withdrawn'),
    count(*) filter (where change_type = 'kept'),
    array_agg(distinct 'version ' || kept_from_version || ' (file ' || kept_from_file_id || ')')
        filter (where change_type = 'kept')
from marts.fct_figure_revisions as revisions
inner join raw.submission_files as files on files.file_id = revisions.submission_file_id
where revisions.revised_at > now() - make_interval(days => %(days)s)
group by 1, 2, 3
order by 1, 4 desc, 2
"""


def recent_revisions(conn: psycopg.Connection, days: int = 30) -> list[Revision]:
    """The resubmissions published in the last `days` days, per file: what each changed, added,
    withdrew and kept from an earlier version (marts.fct_figure_revisions)."""
    if not _exists(conn, "marts.fct_figure_revisions"):
        return []
    return [
        Revision(*row[:9], kept_from=sorted(row[9] or []))
        for row in conn.execute(RECENT_REVISIONS_SQL, {"days": days})
    ]


def _exists(conn: psycopg.Connection, relation: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (relation,)).fetchone()[0]


def completeness(conn: psycopg.Connection, today: date) -> list[tuple]:
    """(province, period, due date, expected, received, on time, late, missing) per period due."""
    if not _exists(conn, "marts.mart_reporting_completeness"):
        return []
    return conn.execute(
        "select current_province_code, period_code, max(due_date), sum(expected)::int,"
        " sum(received)::int, sum(on_time)::int, sum(late)::int, sum(missing)::int"
        " from marts.mart_reporting_completeness where due_date < %s"
        " group by current_province_code, period_code order by 1, 3",
        (today,),
    ).fetchall()


def overdue_reports(conn: psycopg.Connection, today: date) -> list[tuple]:
    """Late and missing reports of each province's last RECENT_PERIODS periods due."""
    if not _exists(conn, "marts.mart_reporting_completeness"):
        return []
    return conn.execute(
        """
        with recent as (
            select current_province_code, period_code, due_date,
                dense_rank() over (
                    partition by current_province_code order by due_date desc
                ) as recency
            from marts.mart_reporting_completeness
            where due_date < %(today)s
        )
        select distinct c.current_province_code, c.period_code, c.admin_unit_code,
            c.admin_unit_name, c.due_date, c.status,
            case when c.status = 'missing' then %(today)s - c.due_date
                else (c.first_submitted_at at time zone %(time_zone)s)::date - c.due_date
            end as days_overdue
        from marts.mart_reporting_completeness as c
        inner join recent
            on c.current_province_code = recent.current_province_code
            and c.period_code = recent.period_code
            and recent.recency <= %(periods)s
        where c.status in ('late', 'missing')
        order by 1, 5 desc, 6, 3
        """,
        {"today": today, "periods": RECENT_PERIODS, "time_zone": VIETNAM.key},
    ).fetchall()


def _gate_states(conn: psycopg.Connection) -> dict[str, dict]:
    """Each province's last gate run: held back or not, since when, which rules blocked."""
    runs = conn.execute(
        "select gate_run_id, started_at, coalesce(provinces_checked, '{}'),"
        " coalesce(provinces_held_back, '{}') from monitoring.gate_runs order by started_at"
    ).fetchall()
    states: dict[str, dict] = {}
    for run_id, started_at, checked, held_back in runs:
        for province in checked:
            state = states.setdefault(province, {"held_back_since": None})
            held = province in held_back
            state.update(last_gate_run_id=run_id, last_gate_at=started_at, held_back=held)
            if not held:
                state["held_back_since"] = None
            elif state["held_back_since"] is None:
                state["held_back_since"] = started_at
    for province, state in states.items():
        rules, warnings = conn.execute(
            "select coalesce(array_agg(distinct suite_name || ': ' || coalesce(notes,"
            " expectation_type)) filter (where severity = 'critical'), '{}'),"
            " count(*) filter (where severity <> 'critical')"
            " from monitoring.gate_results where gate_run_id = %s and not success"
            " and (province_code = %s or province_code is null)",
            (state["last_gate_run_id"], province),
        ).fetchone()
        state.update(blocking_rules=list(rules), warnings=warnings)
    return states


def province_states(conn: psycopg.Connection, today: date | None = None) -> list[ProvinceState]:
    """The state of every province the warehouse knows of, live."""
    today = today or date.today()
    states: dict[str, ProvinceState] = {}

    def state(code: str) -> ProvinceState:
        return states.setdefault(code, ProvinceState(code, reference.province_name(code)))

    for code, values in _gate_states(conn).items():
        province = state(code)
        for name, value in values.items():
            setattr(province, name, value)
    for code, published_at in conn.execute(
        "select province, max(published_at) from monitoring.publications,"
        " unnest(provinces_published) as province group by province"
    ):
        state(code).last_published_at = published_at
    if _exists(conn, "marts.dim_admin_unit"):
        for code, loaded_at in conn.execute(
            """
            select units.current_province_code, max(files.loaded_at)
            from raw.submission_files as files
            inner join (
                select distinct on (admin_unit_code) admin_unit_code, current_province_code
                from marts.dim_admin_unit
                where current_province_code is not null
                order by admin_unit_code, valid_from desc
            ) as units on files.submitting_unit_code = units.admin_unit_code
            where files.status = 'loaded'
            group by 1
            """
        ):
            state(code).last_loaded_at = loaded_at
    latest: dict[str, tuple] = {}
    for row in completeness(conn, today):
        latest[row[0]] = row  # ordered by due date: the last one is the current period
    for code, period, _, expected, received, on_time, _, _ in latest.values():
        province = state(code)
        province.current_period = period
        province.current_expected, province.current_received = expected, received
        province.current_on_time = on_time
    return [states[code] for code in sorted(states)]


def take_snapshot(conn: psycopg.Connection, trigger: str, today: date | None = None) -> int:
    """Write a snapshot of completeness, overdue reports and province states; return its id."""
    today = today or date.today()
    with conn.transaction():
        snapshot_id = conn.execute(
            "insert into monitoring.snapshots (trigger) values (%s) returning snapshot_id",
            (trigger,),
        ).fetchone()[0]
        with conn.cursor() as cur:
            cur.executemany(
                "insert into monitoring.completeness (snapshot_id, province_code, period_code,"
                " due_date, expected, received, on_time, late, missing)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(snapshot_id, *row) for row in completeness(conn, today)],
            )
            cur.executemany(
                "insert into monitoring.overdue_reports (snapshot_id, province_code, period_code,"
                " admin_unit_code, admin_unit_name, due_date, status, days_overdue)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s)",
                [(snapshot_id, *row) for row in overdue_reports(conn, today)],
            )
            columns = [name for name in ProvinceState.__dataclass_fields__]
            cur.executemany(
                f"insert into monitoring.province_status (snapshot_id, {', '.join(columns)})"
                f" values (%s, {', '.join(['%s'] * len(columns))})",
                [(snapshot_id, *asdict(s).values()) for s in province_states(conn, today)],
            )
    return snapshot_id


def late_provinces(conn: psycopg.Connection, snapshot_id: int) -> list[dict]:
    """Provinces with reports missing for their current period, in the shape alerts expect."""
    rows = conn.execute(
        """
        select status.province_code, status.current_period, status.current_expected,
            status.current_received,
            array_agg(overdue.admin_unit_name order by overdue.admin_unit_name)
                filter (where overdue.admin_unit_name is not null),
            max(overdue.due_date)
        from monitoring.province_status as status
        left join monitoring.overdue_reports as overdue
            on overdue.snapshot_id = status.snapshot_id
            and overdue.province_code = status.province_code
            and overdue.period_code = status.current_period
            and overdue.status = 'missing'
        where status.snapshot_id = %s and status.current_received < status.current_expected
        group by 1, 2, 3, 4
        order by 1
        """,
        (snapshot_id,),
    ).fetchall()
    return [
        {
            "province_code": code,
            "period_code": period,
            "expected": expected,
            "received": received,
            "missing_units": list(missing or []),
            "due_date": due_date,
        }
        for code, period, expected, received, missing, due_date in rows
    ]
