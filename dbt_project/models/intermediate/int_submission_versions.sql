-- Every version of every submission. A submission is what one reporting unit reported for one
-- period and program; each loaded file that carries figures for it is a version, numbered in
-- load order. The latest version is current, and every version stays in raw.
--
-- What a resubmission withdraws: a version that loaded whole (no row of its file rejected)
-- supersedes the earlier ones whole, so a figure it leaves out is withdrawn. A version with
-- rejected rows withdraws nothing: a figure it does not give validly stays in effect from the
-- version that gave it last, until a later version gives a valid value for it or a version that
-- loaded whole leaves it out. `figures_since_version` is where a version's figures in effect
-- come from: the latest version up to it that loaded whole (1 if none did).
--
-- Incremental: the versions of the submissions a new file touched (see int_submission_changes)
-- are renumbered, all of them, so a resubmission of an old period makes its new file current.

{{ incremental_by_groups(
    unique_key=['reporting_unit_code', 'period_code', 'program_code'],
    built_from='int_submission_changes',
    indexes=[{'columns': ['submission_file_id']}],
) }}

with

{{ changed_cte() }}

-- each file logged with the submissions it carries: the versions, without reading raw again
changes as (

    select * from {{ ref('int_submission_changes') }}
    where source_kind = 'file' and submission_kind = 'figures'
        {{ where_changed(keyword='and') }}

),

submission_files as (

    select * from {{ ref('stg_raw__submission_files') }}

),

versions as (

    select distinct
        changes.reporting_unit_code,
        changes.period_code,
        changes.program_code,
        changes.source_id as submission_file_id,
        submission_files.file_name,
        submission_files.loaded_at,
        submission_files.rejected_row_count = 0 as is_whole

    from changes
    inner join submission_files
        on changes.source_id = submission_files.submission_file_id

),

numbered as (

    select
        *,
        row_number() over submission_history as version_number,
        lag(submission_file_id) over submission_history as previous_file_id,
        count(*) over (
            partition by reporting_unit_code, period_code, program_code
        ) as version_count

    from versions
    window submission_history as (
        partition by reporting_unit_code, period_code, program_code
        order by loaded_at, submission_file_id
    )

),

in_effect as (

    select
        *,
        coalesce(
            max(version_number) filter (where is_whole) over (
                partition by reporting_unit_code, period_code, program_code
                order by version_number
                rows between unbounded preceding and current row
            ),
            1
        ) as figures_since_version

    from numbered

),

final as (

    select
        reporting_unit_code,
        period_code,
        program_code,
        submission_file_id,
        file_name,
        loaded_at,
        version_number,
        version_count,
        previous_file_id,
        is_whole,
        figures_since_version,
        version_number = version_count as is_current

    from in_effect

)

select * from final
