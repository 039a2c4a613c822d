"""Review of the figures read out of narrative reports: list them, accept or reject them.

Decisions are appended to `raw.narrative_reviews`; the latest decision on a figure holds, so a
decision can be changed and every earlier one is kept. Only accepted figures reach the facts (at
the next build); a figure nobody decided on never does. Reads and writes the raw tables directly,
so it works before any dbt build.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg

STATUSES = ("needs_review", "accepted", "rejected")
DECISIONS = ("accepted", "rejected")


class ReviewError(ValueError):
    """A review names a file or figure that is not there (or an unknown status)."""


@dataclass(frozen=True)
class ReviewFigure:
    file_id: int
    figure_number: int
    file_name: str
    reporting_unit_code: str
    period_code: str
    program_code: str
    indicator_code: str
    value: Decimal
    qualifier: str
    text: str
    sentence: str
    status: str  # needs_review, accepted, rejected
    reviewed_by: str | None
    reviewed_at: datetime | None
    note: str | None


@dataclass(frozen=True)
class Decision:
    file_id: int
    decision: str
    figure_numbers: list[int]  # the figures decided now
    # indicators with several accepted figures in the file: they are added up in the facts
    added_up: dict[str, list[int]]


FIGURES_SQL = """
select
    figures.file_id,
    figures.figure_number,
    files.file_name,
    figures.reporting_unit_code,
    figures.period,
    figures.program_code,
    figures.indicator_code,
    figures.value,
    figures.qualifier,
    figures.text,
    figures.sentence,
    coalesce(latest.decision, 'needs_review') as status,
    latest.reviewed_by,
    latest.reviewed_at,
    latest.note
from raw.narrative_figures as figures
inner join raw.submission_files as files on files.file_id = figures.file_id
left join lateral (
    select reviews.decision, reviews.reviewed_by, reviews.reviewed_at, reviews.note
    from raw.narrative_reviews as reviews
    where reviews.file_id = figures.file_id and reviews.figure_number = figures.figure_number
    order by reviews.review_id desc
    limit 1
) as latest on true
where files.status = 'loaded'
    and (%(file_id)s::bigint is null or figures.file_id = %(file_id)s::bigint)
order by figures.file_id, figures.figure_number
"""


def list_figures(
    conn: psycopg.Connection, file_id: int | None = None, status: str = "needs_review"
) -> list[ReviewFigure]:
    """The narrative figures (of one file, or all) whose review status is `status` (or `all`)."""
    if status != "all" and status not in STATUSES:
        raise ReviewError(f"unknown status {status!r}: use {', '.join(STATUSES)} or all")
    if file_id is not None:
        _check_file(conn, file_id)
    figures = [ReviewFigure(*row) for row in conn.execute(FIGURES_SQL, {"file_id": file_id})]
    return [f for f in figures if status == "all" or f.status == status]


def _check_file(conn: psycopg.Connection, file_id: int) -> None:
    found = conn.execute(
        "select 1 from raw.narrative_figures where file_id = %s limit 1", (file_id,)
    ).fetchone()
    if not found:
        raise ReviewError(
            f"không có báo cáo văn bản nào mã tệp {file_id} / no narrative report with file id"
            f" {file_id} (nhandao review list --status all shows them)"
        )


def decide(
    conn: psycopg.Connection,
    file_id: int,
    decision: str,
    figure_numbers: list[int] | None = None,
    reviewed_by: str | None = None,
    note: str | None = None,
) -> Decision:
    """Record `decision` (accepted or rejected) on figures of one file, in one transaction.

    With figure numbers, on those figures (changing an earlier decision); without, on every
    figure of the file not yet decided, so that rejecting the bad figures first and then
    accepting the file accepts the rest.
    """
    if decision not in DECISIONS:
        raise ReviewError(f"unknown decision {decision!r}: use {' or '.join(DECISIONS)}")
    with conn.transaction():
        figures = list_figures(conn, file_id, "all")  # raises ReviewError for an unknown file
        numbers = {f.figure_number for f in figures}
        if figure_numbers:
            unknown = sorted(set(figure_numbers) - numbers)
            if unknown:
                raise ReviewError(
                    f"tệp {file_id} không có số liệu số {', '.join(map(str, unknown))}"
                    f" / file {file_id} has no figure {', '.join(map(str, unknown))}"
                    f" (its figures are numbered 1 to {max(numbers)})"
                )
            chosen = sorted(set(figure_numbers))
        else:
            chosen = [f.figure_number for f in figures if f.status == "needs_review"]
        if chosen:
            with conn.cursor() as cur:
                cur.executemany(
                    "insert into raw.narrative_reviews (file_id, figure_number, decision,"
                    " reviewed_by, note) values (%s, %s, %s, coalesce(%s, current_user), %s)",
                    [(file_id, number, decision, reviewed_by, note) for number in chosen],
                )
        accepted: dict[str, list[int]] = {}
        for figure in list_figures(conn, file_id, "accepted"):
            accepted.setdefault(figure.indicator_code, []).append(figure.figure_number)
    return Decision(
        file_id,
        decision,
        chosen,
        {indicator: found for indicator, found in accepted.items() if len(found) > 1},
    )
