-- The figures read out of narrative reports, for the people who review them: each with its
-- sentence, the unit and period its file's name gave, what it was read as, its review status,
-- and whether it is counted in the warehouse's figures (accepted, and not superseded by a
-- structured submission or a later narrative report; see int_figures_deduplicated).

with

narrative_figures as (

    select * from {{ ref('int_narrative_figures_reviewed') }}

),

counted_figures as (

    select * from {{ ref('int_figures_deduplicated') }}
    where source_kind = 'narrative'

),

indicators as (

    select * from {{ ref('dim_indicator') }}

),

periods as (

    select * from {{ ref('dim_period') }}

),

admin_units as (

    select * from {{ ref('dim_admin_unit') }}

),

final as (

    select
        narrative_figures.submission_file_id || '-' || narrative_figures.figure_number
            as narrative_figure_id,
        narrative_figures.submission_file_id,
        narrative_figures.figure_number,
        narrative_figures.file_name,
        narrative_figures.reporting_unit_code,
        admin_units.admin_unit_name,
        narrative_figures.period_code,
        narrative_figures.program_code,
        narrative_figures.indicator_code,
        indicators.name_vi as indicator_name_vi,
        narrative_figures.value,
        narrative_figures.qualifier,
        indicators.measure_unit,
        narrative_figures.figure_text,
        narrative_figures.sentence,
        narrative_figures.unit_mention,
        narrative_figures.period_mention,
        narrative_figures.source_kind,
        narrative_figures.review_status,
        narrative_figures.reviewed_by,
        narrative_figures.reviewed_at,
        narrative_figures.review_note,
        counted_figures.submission_file_id is not null as is_counted,
        narrative_figures.loaded_at

    from narrative_figures
    left join periods
        on narrative_figures.period_code = periods.period_code
    left join admin_units
        on narrative_figures.reporting_unit_code = admin_units.admin_unit_code
        and {{ valid_on('admin_units', 'periods.end_date') }}
    left join indicators
        on narrative_figures.indicator_code = indicators.indicator_code
    left join counted_figures
        on narrative_figures.review_status = 'accepted'
        and narrative_figures.submission_file_id = counted_figures.submission_file_id
        and narrative_figures.reporting_unit_code = counted_figures.reporting_unit_code
        and narrative_figures.period_code = counted_figures.period_code
        and narrative_figures.indicator_code = counted_figures.indicator_code
        and narrative_figures.program_code = counted_figures.program_code

)

select * from final
