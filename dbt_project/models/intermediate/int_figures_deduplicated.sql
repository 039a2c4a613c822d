-- One row per figure (reporting unit × period × indicator × program): when several loaded files
-- carry the same figure, the latest load wins; every version stays in raw.

with

submission_rows as (

    select * from {{ ref('stg_raw__submission_rows') }}

),

submission_files as (

    select * from {{ ref('stg_raw__submission_files') }}

),

loaded_rows as (

    select
        submission_rows.*,
        submission_files.file_name,
        submission_files.loaded_at

    from submission_rows
    inner join submission_files
        on submission_rows.submission_file_id = submission_files.submission_file_id
    where submission_files.status = 'loaded'

),

ranked as (

    select
        *,
        row_number() over (
            partition by reporting_unit_code, period_code, indicator_code, program_code
            order by loaded_at desc, submission_file_id desc
        ) as version_rank,
        count(*) over (
            partition by reporting_unit_code, period_code, indicator_code, program_code
        ) as version_count

    from loaded_rows

),

final as (

    select
        reporting_unit_code,
        reporting_unit_name,
        period_code,
        indicator_code,
        program_code,
        value,
        qualifier,
        note,
        submission_file_id,
        source_row_number,
        file_name,
        loaded_at,
        version_count

    from ranked
    where version_rank = 1

)

select * from final
