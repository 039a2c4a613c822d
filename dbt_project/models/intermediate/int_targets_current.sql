-- The target of each unit, year and indicator: the latest loaded target file's, else the demo
-- seed's (seeds/targets.csv, illustrative figures for Đà Nẵng's districts).

with

submission_files as (

    select * from {{ ref('stg_raw__submission_files') }}
    where status = 'loaded' and submission_kind = 'targets'

),

-- only the target files' rows are read (raw.submission_rows has a BRIN index on the file)
submission_rows as (

    select * from {{ ref('stg_raw__submission_rows') }}
    where submission_file_id = any(array(select submission_file_id from submission_files))

),

seeded_targets as (

    select * from {{ ref('targets') }}

),

submitted as (

    select
        submission_rows.reporting_unit_code,
        submission_rows.period_code::integer as year,
        submission_rows.indicator_code,
        submission_rows.value as target,
        'submitted' as target_source,
        row_number() over (
            partition by submission_rows.reporting_unit_code, submission_rows.period_code,
                submission_rows.indicator_code
            order by submission_files.loaded_at desc, submission_files.submission_file_id desc
        ) as version_rank

    from submission_rows
    inner join submission_files
        on submission_rows.submission_file_id = submission_files.submission_file_id

),

final as (

    select reporting_unit_code, year, indicator_code, target, target_source
    from submitted
    where version_rank = 1

    union all

    select seeded.reporting_unit_code, seeded.year, seeded.indicator_code, seeded.target, 'seed'
    from seeded_targets as seeded
    where not exists (
        select from submitted
        where submitted.reporting_unit_code = seeded.reporting_unit_code
            and submitted.year = seeded.year
            and submitted.indicator_code = seeded.indicator_code
    )

)

select * from final
