-- What each resubmission changed: for every version of a submission after the first, the
-- figures in effect after it against those in effect before it (old → new): added, changed,
-- withdrawn (left out by a version that loaded whole), or kept (not given validly by a version
-- with rejected rows, so kept from an earlier version: `kept_from_version`). See
-- int_submission_versions for the rule.
--
-- Incremental by submission (unit × period × program): the revisions of the submissions logged
-- since the last build are recomputed whole (see macros/incremental.sql).

{{ incremental_by_groups(
    unique_key=['reporting_unit_code', 'period_code', 'program_code'],
    built_from='int_submission_versions',
    indexes=[{'columns': ['current_province_code', 'period_code']}],
) }}

with

{{ changed_cte() }}

versions as (

    select * from {{ ref('int_submission_versions') }}
    {{ where_changed() }}

),

-- every version after the first: each is compared with the one before it
revised as (

    select * from versions where version_number > 1

),

-- for each revision, the versions whose figures are in effect after it (state = the revision)
-- and before it (state = the revision − 1)
in_effect as (

    select
        revised.reporting_unit_code,
        revised.period_code,
        revised.program_code,
        revised.version_number as revision_number,
        revised.submission_file_id as revision_file_id,
        revised.previous_file_id,
        revised.loaded_at as revised_at,
        states.version_number as state_version,
        sources.version_number as source_version,
        sources.submission_file_id as source_file_id

    from revised
    inner join versions as states
        on states.reporting_unit_code = revised.reporting_unit_code
        and states.period_code = revised.period_code
        and states.program_code = revised.program_code
        and states.version_number in (revised.version_number - 1, revised.version_number)
    inner join versions as sources
        on sources.reporting_unit_code = revised.reporting_unit_code
        and sources.period_code = revised.period_code
        and sources.program_code = revised.program_code
        and sources.version_number
            between states.figures_since_version and states.version_number

),

submission_rows as (

    select * from {{ ref('stg_raw__submission_rows') }}
    {% if is_incremental() %}
    -- only the files of those versions are read (raw.submission_rows has a BRIN index on them)
    where submission_file_id = any(array(select distinct source_file_id from in_effect))
    {% endif %}

),

periods as (

    select * from {{ ref('dim_period') }}

),

admin_units as (

    select * from {{ ref('dim_admin_unit') }}

),

-- each state's figures: the latest version in effect that gives each indicator
figures_in_effect as (

    select distinct on (
        in_effect.reporting_unit_code,
        in_effect.period_code,
        in_effect.program_code,
        in_effect.revision_number,
        in_effect.state_version,
        submission_rows.indicator_code
    )
        in_effect.*,
        submission_rows.indicator_code,
        submission_rows.value,
        submission_rows.qualifier

    from in_effect
    inner join submission_rows
        on submission_rows.submission_file_id = in_effect.source_file_id
        and submission_rows.reporting_unit_code = in_effect.reporting_unit_code
        and submission_rows.period_code = in_effect.period_code
        and submission_rows.program_code = in_effect.program_code
    order by
        in_effect.reporting_unit_code,
        in_effect.period_code,
        in_effect.program_code,
        in_effect.revision_number,
        in_effect.state_version,
        submission_rows.indicator_code,
        in_effect.source_version desc

),

new_figures as (

    select * from figures_in_effect where state_version = revision_number

),

old_figures as (

    select * from figures_in_effect where state_version = revision_number - 1

),

compared as (

    select
        coalesce(new_figures.reporting_unit_code, old_figures.reporting_unit_code)
            as reporting_unit_code,
        coalesce(new_figures.period_code, old_figures.period_code) as period_code,
        coalesce(new_figures.program_code, old_figures.program_code) as program_code,
        coalesce(new_figures.indicator_code, old_figures.indicator_code) as indicator_code,
        coalesce(new_figures.revision_number, old_figures.revision_number) as version_number,
        old_figures.value as old_value,
        old_figures.qualifier as old_qualifier,
        new_figures.value as new_value,
        new_figures.qualifier as new_qualifier,
        -- the figure in effect after the revision comes from an earlier version: kept
        case
            when new_figures.source_version < new_figures.revision_number
                then new_figures.source_version
        end as kept_from_version,
        case
            when new_figures.source_version < new_figures.revision_number
                then new_figures.source_file_id
        end as kept_from_file_id,
        coalesce(new_figures.previous_file_id, old_figures.previous_file_id)
            as previous_file_id,
        coalesce(new_figures.revision_file_id, old_figures.revision_file_id)
            as submission_file_id,
        coalesce(new_figures.revised_at, old_figures.revised_at) as revised_at

    from new_figures
    full outer join old_figures
        on new_figures.reporting_unit_code = old_figures.reporting_unit_code
        and new_figures.period_code = old_figures.period_code
        and new_figures.program_code = old_figures.program_code
        and new_figures.revision_number = old_figures.revision_number
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
            when compared.kept_from_version is not null then 'kept'
            else 'changed'
        end as change_type,
        compared.kept_from_version::integer as kept_from_version,
        compared.kept_from_file_id,
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
        or compared.kept_from_version is not null
        or compared.old_value <> compared.new_value
        or compared.old_qualifier <> compared.new_qualifier

)

select * from final
