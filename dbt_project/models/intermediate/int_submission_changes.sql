-- The change log the incremental models are built from (see macros/incremental.sql). raw is
-- append-only, so every change to the figures arrives as something new in it: a loaded file
-- (figures, targets, a narrative report) or a review decision on a narrative figure. Each is
-- logged once, with every submission (reporting unit × period × program) it touches, the year of
-- the period, and the build that logged it (`change_batch`, a number that only grows). A new
-- month logs its own submissions; a resubmission or a late file of an old period logs that
-- period's, so the models downstream replace exactly those. A change of the reference data the
-- models join (the dimensions, the seeded targets) is logged as a change of every submission.

{#- test_groups: what its tests compare are the entries of one file or review (see
    get_where_subquery in macros/incremental.sql) -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ create_incremental_state() }}",
    post_hook="{{ record_changes_through('int_submission_changes') }}",
    meta={'test_groups': ['source_kind', 'source_id']},
    indexes=[
        {'columns': ['change_batch']},
        {'columns': ['source_id', 'source_kind']},
        {'columns': ['reporting_unit_code', 'period_code', 'program_code']},
    ],
) }}

with

-- this build's number (one for all it logs)
batch as materialized (

    select nextval('intermediate.change_batches') as change_batch

),

-- what the reference data the models join looks like now
reference_parts as (

    {% for relation in ['dim_admin_unit', 'dim_period', 'dim_indicator', 'dim_program', 'targets'] %}
    select '{{ relation }}:' || md5(string_agg(reference::text, '|' order by reference::text)) as part
    from {{ ref(relation) }} as reference
    {{ 'union all' if not loop.last }}
    {% endfor %}

),

reference as (

    select md5(string_agg(part, '|' order by part)) as reference_fingerprint
    from reference_parts

),

submission_files as (

    select * from {{ ref('stg_raw__submission_files') }}
    where status = 'loaded'

),

narrative_reviews as (

    select * from {{ ref('stg_raw__narrative_reviews') }}

),

-- the files and review decisions not logged yet (all of them on a full build)
new_files as (

    select submission_file_id, submission_kind
    from submission_files
    {% if is_incremental() %}
    where not exists (
        select from {{ this }} as logged
        where logged.source_kind = 'file'
            and logged.source_id = submission_files.submission_file_id
    )
    {% endif %}

),

new_reviews as (

    select narrative_review_id, submission_file_id, figure_number
    from narrative_reviews
    {% if is_incremental() %}
    where not exists (
        select from {{ this }} as logged
        where logged.source_kind = 'review'
            and logged.source_id = narrative_reviews.narrative_review_id
    )
    {% endif %}

),

submission_rows as (

    select * from {{ ref('stg_raw__submission_rows') }}
    {% if is_incremental() %}
    -- only the new files' rows are read (raw.submission_rows has a BRIN index on the file)
    where submission_file_id = any(array(select submission_file_id from new_files))
    {% endif %}

),

narrative_figures as (

    select * from {{ ref('stg_raw__narrative_figures') }}

),

periods as (

    select * from {{ ref('dim_period') }}

),

file_submissions as (

    select distinct
        submission_rows.reporting_unit_code,
        submission_rows.period_code,
        submission_rows.program_code,
        'file' as source_kind,
        new_files.submission_kind,
        new_files.submission_file_id as source_id

    from submission_rows
    inner join new_files
        on submission_rows.submission_file_id = new_files.submission_file_id

),

narrative_submissions as (

    select distinct
        narrative_figures.reporting_unit_code,
        narrative_figures.period_code,
        narrative_figures.program_code,
        'file' as source_kind,
        new_files.submission_kind,
        new_files.submission_file_id as source_id

    from narrative_figures
    inner join new_files
        on narrative_figures.submission_file_id = new_files.submission_file_id

),

reviewed_submissions as (

    select distinct
        narrative_figures.reporting_unit_code,
        narrative_figures.period_code,
        narrative_figures.program_code,
        'review' as source_kind,
        'narrative' as submission_kind,
        new_reviews.narrative_review_id as source_id

    from new_reviews
    inner join narrative_figures
        on new_reviews.submission_file_id = narrative_figures.submission_file_id
        and new_reviews.figure_number = narrative_figures.figure_number

),

{% if is_incremental() %}
-- reference data changed since the last build: every submission logged so far has changed
reference_submissions as (

    select distinct
        logged.reporting_unit_code,
        logged.period_code,
        logged.program_code,
        'reference' as source_kind,
        'reference' as submission_kind,
        batch.change_batch as source_id

    from {{ this }} as logged
    cross join batch
    where (select reference_fingerprint from reference) is distinct from (
        select reference_fingerprint from {{ this }} order by change_batch desc limit 1
    )

),
{% endif %}

touched as (

    select * from file_submissions
    union all
    select * from narrative_submissions
    union all
    select * from reviewed_submissions
    {% if is_incremental() %}
    union all
    select * from reference_submissions
    {% endif %}

),

final as (

    select
        touched.reporting_unit_code,
        touched.period_code,
        touched.program_code,
        periods.year,
        touched.source_kind,
        touched.submission_kind,
        touched.source_id,
        batch.change_batch,
        reference.reference_fingerprint,
        now() as logged_at

    from touched
    cross join batch
    cross join reference
    left join periods
        on touched.period_code = periods.period_code

)

select * from final
