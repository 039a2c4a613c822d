-- One row per figure (reporting unit × period × indicator × program): the figure in effect in
-- the current version of its submission (see int_submission_versions): given by the current
-- version, or kept from an earlier one when a version with rejected rows did not give it
-- validly (`version_number` says which version it comes from); or else from a narrative
-- report, once a person has accepted it (see int_narrative_figures_reviewed). Figures awaiting
-- review and rejected figures never get here, so they never reach the facts.
--
-- Precedence: a structured submission (CSV, Excel form) wins over a narrative report for the same
-- unit, period, program and indicator: its figure was entered to be counted, the narrative one
-- was read out of a sentence. Among narrative reports, the latest loaded file with an accepted
-- figure for it wins; accepted figures of the same indicator in one file are added up (the
-- reviewer accepts the parts of the period's activity, or its total, not both). For narrative
-- figures `source_row_number` is the figure's number in its file (the first, when added up).
--
-- Incremental by submission (unit × period × program): a submission logged since the last build
-- (see int_submission_changes) is recomputed whole and replaces its rows, so a resubmission's
-- withdrawn figures disappear, and so does a narrative figure whose acceptance was withdrawn.

{{ incremental_by_groups(
    unique_key=['reporting_unit_code', 'period_code', 'program_code'],
    built_from='int_submission_versions',
) }}

with

{{ changed_cte() }}

submission_versions as (

    select * from {{ ref('int_submission_versions') }}
    {{ where_changed() }}

),

-- the versions whose figures are in effect now: the current one, and back to the latest version
-- that loaded whole (see int_submission_versions)
versions_in_effect as (

    select
        submission_versions.*,
        current_versions.version_count as current_version_count,
        -- most submissions have one version in effect: their figures need no choosing
        current_versions.figures_since_version = current_versions.version_number
            as is_only_version_in_effect

    from submission_versions
    inner join submission_versions as current_versions
        on submission_versions.reporting_unit_code = current_versions.reporting_unit_code
        and submission_versions.period_code = current_versions.period_code
        and submission_versions.program_code = current_versions.program_code
        and current_versions.is_current
    where submission_versions.version_number >= current_versions.figures_since_version

),

submission_rows as (

    select * from {{ ref('stg_raw__submission_rows') }}
    {% if is_incremental() %}
    -- only those versions' files are read (raw.submission_rows has a BRIN index on them)
    where submission_file_id
        = any(array(select distinct submission_file_id from versions_in_effect))
    {% endif %}

),

accepted_narrative_figures as (

    select * from {{ ref('int_narrative_figures_reviewed') }}
    where review_status = 'accepted'
        {{ where_changed(keyword='and') }}

),

given as (

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
        versions_in_effect.file_name,
        versions_in_effect.loaded_at,
        versions_in_effect.current_version_count as version_count,
        versions_in_effect.version_number,
        versions_in_effect.is_only_version_in_effect,
        'submission' as source_kind

    from submission_rows
    inner join versions_in_effect
        on submission_rows.submission_file_id = versions_in_effect.submission_file_id
        and submission_rows.reporting_unit_code = versions_in_effect.reporting_unit_code
        and submission_rows.period_code = versions_in_effect.period_code
        and submission_rows.program_code = versions_in_effect.program_code

),

-- of several versions in effect, the latest that gives the figure
chosen as (

    select distinct on (reporting_unit_code, period_code, indicator_code, program_code) *
    from given
    where not is_only_version_in_effect
    order by reporting_unit_code, period_code, indicator_code, program_code, version_number desc

),

submitted as (

    select * from given where is_only_version_in_effect
    union all
    select * from chosen

),

submitted_figures as (

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
        version_count,
        version_number,
        source_kind

    from submitted

),

narrative_by_file as (

    select
        reporting_unit_code,
        period_code,
        indicator_code,
        program_code,
        submission_file_id,
        file_name,
        loaded_at,
        sum(value) as value,
        {{ rollup_qualifier('qualifier') }} as qualifier,
        min(figure_number) as source_row_number

    from accepted_narrative_figures
    group by
        reporting_unit_code,
        period_code,
        indicator_code,
        program_code,
        submission_file_id,
        file_name,
        loaded_at

),

narrative_versions as (

    select
        *,
        row_number() over narrative_history as version_rank,
        count(*) over narrative_history as version_count

    from narrative_by_file
    window narrative_history as (
        partition by reporting_unit_code, period_code, indicator_code, program_code
        order by loaded_at desc, submission_file_id desc
        rows between unbounded preceding and unbounded following
    )

),

narrated as (

    select
        narrative_versions.reporting_unit_code,
        cast(null as text) as reporting_unit_name,
        narrative_versions.period_code,
        narrative_versions.indicator_code,
        narrative_versions.program_code,
        narrative_versions.value,
        narrative_versions.qualifier,
        cast(null as text) as note,
        narrative_versions.submission_file_id,
        narrative_versions.source_row_number,
        narrative_versions.file_name,
        narrative_versions.loaded_at,
        narrative_versions.version_count,
        narrative_versions.version_count as version_number,
        'narrative' as source_kind

    from narrative_versions
    where narrative_versions.version_rank = 1
        and not exists (
            select from submitted
            where submitted.reporting_unit_code = narrative_versions.reporting_unit_code
                and submitted.period_code = narrative_versions.period_code
                and submitted.indicator_code = narrative_versions.indicator_code
                and submitted.program_code = narrative_versions.program_code
        )

),

final as (

    select * from submitted_figures
    union all
    select * from narrated

)

select * from final
