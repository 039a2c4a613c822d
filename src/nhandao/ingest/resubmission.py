"""What a loaded file does to the figures already loaded for the same reports: the policy for
resubmissions, as the loader tells it (the build applies the same rule in dbt:
int_submission_versions, int_figures_deduplicated, fct_figure_revisions).

A submission is what one unit reported for one period and program; every loaded file that
carries it is a new version. A version that loaded whole (no row rejected) supersedes the earlier
ones whole: a figure it leaves out is withdrawn. A version with rejected rows withdraws nothing:
a figure it does not give validly stays in effect from the version that gave it, until a later
version gives a valid value for it or a version that loads whole leaves it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import psycopg

POLICY_VI = (
    "Tệp gửi lại có dòng bị từ chối không rút bỏ số liệu nào: số liệu mà tệp không ghi hợp lệ"
    " được giữ nguyên từ phiên bản trước cho đến khi có giá trị hợp lệ; chỉ một tệp nạp trọn"
    " vẹn (không dòng nào bị từ chối) mới rút bỏ được số liệu nó không ghi."
)
POLICY_EN = (
    "A resubmission with rejected rows withdraws nothing: a figure it does not give validly is"
    " kept from the earlier version until a valid value arrives; only a file that loads whole"
    " (no row rejected) withdraws the figures it leaves out."
)

# The earlier files of figures that carry any report (unit|period) the file carries, found through
# the GIN index on raw.submission_files.unit_periods; ordered as the build orders versions.
EARLIER_FILES_SQL = """
select files.file_id
from raw.submission_files as files
cross join raw.submission_files as this_file
where this_file.file_id = %(file_id)s
    and files.status = 'loaded'
    and files.submission_kind = 'figures'
    and files.unit_periods && this_file.unit_periods
    and (files.loaded_at, files.file_id) < (this_file.loaded_at, this_file.file_id)
"""

# The figures in effect before the file, for the reports it carries, against the file's own
# (read through the BRIN index on raw.submission_rows.file_id).
EFFECT_SQL = """
with

this_file as (
    select file_id, rejected_row_count = 0 as is_whole
    from raw.submission_files
    where file_id = %(file_id)s
),

new_rows as (
    select
        coalesce(resolved_unit_code, reporting_unit_code) as unit_code,
        period,
        coalesce(nullif(program_code, ''), 'general') as program_code,
        indicator_code,
        coalesce(parsed_value, value::numeric) as value,
        coalesce(parsed_qualifier, nullif(qualifier, ''), 'exact') as qualifier
    from raw.submission_rows
    where file_id = %(file_id)s
),

submissions as (
    select distinct unit_code, period, program_code from new_rows
),

earlier_files as (
    select file_id, file_name, loaded_at, rejected_row_count = 0 as is_whole
    from raw.submission_files
    where file_id = any(%(earlier)s)
),

earlier_rows as (
    select
        coalesce(rows.resolved_unit_code, rows.reporting_unit_code) as unit_code,
        rows.period,
        coalesce(nullif(rows.program_code, ''), 'general') as program_code,
        rows.indicator_code,
        coalesce(rows.parsed_value, rows.value::numeric) as value,
        coalesce(rows.parsed_qualifier, nullif(rows.qualifier, ''), 'exact') as qualifier,
        rows.file_id
    from raw.submission_rows as rows
    where rows.file_id = any(%(earlier)s)
),

versions as (
    select
        versions.*,
        row_number() over (
            partition by unit_code, period, program_code order by loaded_at, file_id
        ) as version_number
    from (
        select distinct
            earlier_rows.unit_code,
            earlier_rows.period,
            earlier_rows.program_code,
            earlier_files.file_id,
            earlier_files.file_name,
            earlier_files.loaded_at,
            earlier_files.is_whole
        from earlier_rows
        inner join earlier_files on earlier_files.file_id = earlier_rows.file_id
        inner join submissions using (unit_code, period, program_code)
    ) as versions
),

figures_since as (
    select unit_code, period, program_code,
        coalesce(max(version_number) filter (where is_whole), 1) as version_number,
        count(*) as version_count
    from versions
    group by unit_code, period, program_code
),

in_effect as (
    select distinct on (earlier_rows.unit_code, earlier_rows.period,
                        earlier_rows.program_code, earlier_rows.indicator_code)
        earlier_rows.*,
        versions.version_number,
        versions.file_name
    from earlier_rows
    inner join versions using (unit_code, period, program_code, file_id)
    inner join figures_since using (unit_code, period, program_code)
    where versions.version_number >= figures_since.version_number
    order by earlier_rows.unit_code, earlier_rows.period, earlier_rows.program_code,
        earlier_rows.indicator_code, versions.version_number desc
)

select
    case
        when new_rows.indicator_code is null and this_file.is_whole then 'withdrawn'
        when new_rows.indicator_code is null then 'kept'
        when new_rows.value <> in_effect.value or new_rows.qualifier <> in_effect.qualifier
            then 'changed'
        else 'unchanged'
    end as outcome,
    in_effect.unit_code,
    in_effect.period,
    in_effect.program_code,
    in_effect.indicator_code,
    in_effect.value,
    in_effect.qualifier,
    in_effect.version_number,
    in_effect.file_id,
    in_effect.file_name
from in_effect
cross join this_file
left join new_rows using (unit_code, period, program_code, indicator_code)
order by in_effect.unit_code, in_effect.period, in_effect.program_code, in_effect.indicator_code
"""


@dataclass(frozen=True)
class EarlierFigure:
    """A figure in effect before the file, from an earlier version of its report."""

    outcome: str  # kept, withdrawn, changed, unchanged
    unit_code: str
    period: str
    program_code: str
    indicator_code: str
    value: Decimal
    qualifier: str
    version_number: int  # the version it comes from
    file_id: int
    file_name: str

    def describe(self) -> str:
        value = format(self.value.normalize(), "f")
        return (
            f"{self.unit_code} {self.period} {self.program_code} {self.indicator_code} = {value}"
            f" (file {self.file_id} {self.file_name}, version {self.version_number})"
        )


@dataclass(frozen=True)
class Effect:
    """What a loaded file does to the figures in effect for the reports it resends."""

    file_id: int
    figures: list[EarlierFigure] = field(default_factory=list)
    resubmissions: int = 0  # submissions the file is a new version of

    def of(self, outcome: str) -> list[EarlierFigure]:
        return [f for f in self.figures if f.outcome == outcome]

    @property
    def kept(self) -> list[EarlierFigure]:
        return self.of("kept")

    @property
    def withdrawn(self) -> list[EarlierFigure]:
        return self.of("withdrawn")

    @property
    def changed(self) -> list[EarlierFigure]:
        return self.of("changed")

    def summary(self) -> str:
        """One clause for the loader's line, e.g. 'new version of 3 reports: 1 figure changed,
        2 figures kept from file 7 (version 1) until a valid value arrives'; empty when the file
        resends nothing."""
        if not self.resubmissions:
            return ""
        parts = []
        if self.changed:
            parts.append(f"{_figures(len(self.changed))} changed")
        if self.kept:
            sources = sorted({(f.file_id, f.version_number) for f in self.kept})
            parts.append(
                f"{_figures(len(self.kept))} kept from "
                + ", ".join(f"file {file_id} (version {v})" for file_id, v in sources)
                + " until a valid value arrives"
            )
        if self.withdrawn:
            parts.append(f"{_figures(len(self.withdrawn))} withdrawn (left out of this version)")
        reports = "report" if self.resubmissions == 1 else "reports"
        return f"new version of {self.resubmissions} {reports}: {', '.join(parts) or 'no change'}"


def _figures(count: int) -> str:
    return f"{count} figure" + ("" if count == 1 else "s")


def effect(conn: psycopg.Connection, file_id: int) -> Effect:
    """What the loaded figures file `file_id` changes, keeps and withdraws of what was in effect
    before it for the reports it carries."""
    earlier = [row[0] for row in conn.execute(EARLIER_FILES_SQL, {"file_id": file_id})]
    if not earlier:
        return Effect(file_id)
    found = conn.execute(EFFECT_SQL, {"file_id": file_id, "earlier": earlier}).fetchall()
    figures = [EarlierFigure(*row[:10]) for row in found]
    resubmissions = len({(f.unit_code, f.period, f.program_code) for f in figures})
    return Effect(file_id, figures, resubmissions)
