-- Reports received: for each unit that owes reports and each period, when its figures first
-- landed (the file's modification time in the landing zone) and first loaded. A district's
-- report is any loaded file carrying figures of the district or of its wards; from July 2025 a
-- commune's report is any file carrying its own figures. Rejected files do not count.

with

-- the submissions each loaded file carried (one row per unit, period, program and file: far
-- fewer than raw's rows)
submission_versions as (

    select * from {{ ref('int_submission_versions') }}

),

submission_files as (

    select * from {{ ref('stg_raw__submission_files') }}
    where status = 'loaded' and submission_kind = 'figures'

),

periods as (

    select * from {{ ref('dim_period') }}

),

admin_units as (

    select * from {{ ref('dim_admin_unit') }}
    where admin_unit_id <> 'unknown'

),

reported as (

    select distinct
        submission_versions.reporting_unit_code,
        submission_versions.period_code,
        periods.end_date as period_end_date,
        submission_files.submitted_at,
        submission_files.loaded_at

    from submission_versions
    inner join submission_files
        on submission_versions.submission_file_id = submission_files.submission_file_id
    inner join periods
        on submission_versions.period_code = periods.period_code
    where periods.period_type = 'month'

),

by_reporter as (

    select
        case
            when units.admin_level = 'ward' and not units.is_current then units.parent_code
            else units.admin_unit_code
        end as reporter_code,
        reported.period_code,
        reported.period_end_date,
        reported.submitted_at,
        reported.loaded_at

    from reported
    inner join admin_units as units
        on reported.reporting_unit_code = units.admin_unit_code
        and {{ valid_on('units', 'reported.period_end_date') }}

),

final as (

    select
        reporters.admin_unit_id,
        by_reporter.period_code,
        min(by_reporter.submitted_at) as first_submitted_at,
        min(by_reporter.loaded_at) as first_loaded_at

    from by_reporter
    inner join admin_units as reporters
        on by_reporter.reporter_code = reporters.admin_unit_code
        and {{ valid_on('reporters', 'by_reporter.period_end_date') }}
    group by reporters.admin_unit_id, by_reporter.period_code

)

select * from final
