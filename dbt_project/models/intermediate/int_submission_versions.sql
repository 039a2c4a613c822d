-- Every version of every submission. A submission is what one reporting unit reported for one
-- period and program; each loaded file that carries figures for it is a version, numbered in
-- load order. The latest version is current: it supersedes the earlier ones whole (a figure
-- left out of a resubmission is withdrawn), and every version stays in raw.

with

submission_rows as (

    select * from {{ ref('stg_raw__submission_rows') }}

),

submission_files as (

    select * from {{ ref('stg_raw__submission_files') }}

),

versions as (

    select distinct
        submission_rows.reporting_unit_code,
        submission_rows.period_code,
        submission_rows.program_code,
        submission_rows.submission_file_id,
        submission_files.file_name,
        submission_files.loaded_at

    from submission_rows
    inner join submission_files
        on submission_rows.submission_file_id = submission_files.submission_file_id
    where submission_files.status = 'loaded' and submission_files.submission_kind = 'figures'

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
        version_number = version_count as is_current

    from numbered

)

select * from final
