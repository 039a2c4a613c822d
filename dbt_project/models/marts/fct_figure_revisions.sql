-- What each resubmission changed: for every version of a submission after the first, the
-- figures it added, withdrew or changed against the version before it (old → new).
--
-- Incremental by submission (unit × period × program): the revisions of the submissions logged
-- since the last build are recomputed whole (see macros/incremental.sql).

{{ config(
    materialized='incremental',
    incremental_strategy='replace_changed',
    unique_key=['reporting_unit_code', 'period_code', 'program_code'],
    on_schema_change='fail',
    indexes=[
        {'columns': ['reporting_unit_code', 'period_code', 'program_code']},
        {'columns': ['current_province_code', 'period_code']},
    ],
    post_hook="{{ record_changes_through('int_submission_versions') }}",
) }}
-- depends_on: {{ ref('int_submission_changes') }}

with

{% if is_incremental() %}
changed as (

    {{ changed_since_last_build(['reporting_unit_code', 'period_code', 'program_code']) }}

),
{% endif %}

versions as (

    select * from {{ ref('int_submission_versions') }}
    where previous_file_id is not null
    {% if is_incremental() %}
        and (reporting_unit_code, period_code, program_code) in (select * from changed)
    {% endif %}

),

submission_rows as (

    select * from {{ ref('stg_raw__submission_rows') }}
    {% if is_incremental() %}
    -- only the files of those versions are read (raw.submission_rows has a BRIN index on them)
    where submission_file_id = any(array(
        select submission_file_id from versions
        union
        select previous_file_id from versions
    ))
    {% endif %}

),

periods as (

    select * from {{ ref('dim_period') }}

),

admin_units as (

    select * from {{ ref('dim_admin_unit') }}

),

-- the figures of both versions of each submission: this one (new) and the one before (old)
both_versions as (

    select
        versions.*,
        submission_rows.indicator_code,
        submission_rows.value,
        submission_rows.qualifier,
        submission_rows.submission_file_id = versions.submission_file_id as is_new

    from versions
    inner join submission_rows
        on submission_rows.submission_file_id
            in (versions.submission_file_id, versions.previous_file_id)
        and submission_rows.reporting_unit_code = versions.reporting_unit_code
        and submission_rows.period_code = versions.period_code
        and submission_rows.program_code = versions.program_code

),

new_figures as (

    select * from both_versions where is_new

),

old_figures as (

    select * from both_versions where not is_new

),

compared as (

    select
        coalesce(new_figures.reporting_unit_code, old_figures.reporting_unit_code)
            as reporting_unit_code,
        coalesce(new_figures.period_code, old_figures.period_code) as period_code,
        coalesce(new_figures.program_code, old_figures.program_code) as program_code,
        coalesce(new_figures.indicator_code, old_figures.indicator_code) as indicator_code,
        coalesce(new_figures.version_number, old_figures.version_number) as version_number,
        old_figures.value as old_value,
        old_figures.qualifier as old_qualifier,
        new_figures.value as new_value,
        new_figures.qualifier as new_qualifier,
        coalesce(new_figures.previous_file_id, old_figures.previous_file_id)
            as previous_file_id,
        coalesce(new_figures.submission_file_id, old_figures.submission_file_id)
            as submission_file_id,
        coalesce(new_figures.loaded_at, old_figures.loaded_at) as revised_at

    from new_figures
    full outer join old_figures
        on new_figures.submission_file_id = old_figures.submission_file_id
        and new_figures.reporting_unit_code = old_figures.reporting_unit_code
        and new_figures.period_code = old_figures.period_code
        and new_figures.program_code = old_figures.program_code
        and new_figures.indicator_code = old_figures.indicator_code

),

final as (

    select
        {{ surrogate_key(['compared.reporting_unit_code', 'compared.period_code',
                          'compared.program_code', 'compared.indicator_code',
                          'compared.submission_file_id']) }} as revision_id,
        compared.reporting_unit_code,
        coalesce(admin_units.current_province_code, 'unknown') as current_province_code,
        compared.period_code,
        compared.program_code,
        compared.indicator_code,
        compared.version_number::integer as version_number,
        case
            when compared.old_value is null then 'added'
            when compared.new_value is null then 'withdrawn'
            else 'changed'
        end as change_type,
        compared.old_value,
        compared.old_qualifier,
        compared.new_value,
        compared.new_qualifier,
        compared.new_value - compared.old_value as difference,
        compared.previous_file_id,
        compared.submission_file_id,
        compared.revised_at

    from compared
    left join periods
        on compared.period_code = periods.period_code
    left join admin_units
        on compared.reporting_unit_code = admin_units.admin_unit_code
        and {{ valid_on('admin_units', 'periods.end_date') }}
    where compared.old_value is null
        or compared.new_value is null
        or compared.old_value <> compared.new_value
        or compared.old_qualifier <> compared.new_qualifier

)

select * from final
