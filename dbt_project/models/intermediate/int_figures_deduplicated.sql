-- One row per figure (reporting unit × period × indicator × program) from the current version of
-- its submission (see int_submission_versions).

with

submission_rows as (

    select * from {{ ref('stg_raw__submission_rows') }}

),

current_versions as (

    select * from {{ ref('int_submission_versions') }}
    where is_current

),

final as (

    select
        submission_rows.reporting_unit_code,
        submission_rows.reporting_unit_name,
        submission_rows.period_code,
        submission_rows.indicator_code,
        submission_rows.program_code,
        submission_rows.value,
        submission_rows.qualifier,
        submission_rows.note,
        submission_rows.submission_file_id,
        submission_rows.source_row_number,
        current_versions.file_name,
        current_versions.loaded_at,
        current_versions.version_count

    from submission_rows
    inner join current_versions
        on submission_rows.submission_file_id = current_versions.submission_file_id
        and submission_rows.reporting_unit_code = current_versions.reporting_unit_code
        and submission_rows.period_code = current_versions.period_code
        and submission_rows.program_code = current_versions.program_code

)

select * from final
