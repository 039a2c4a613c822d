{#- The body of a fact model: the current figures of the indicators that feed `fact_name`, with
    foreign keys to the dimensions (the unknown member where a lookup fails).

    Incremental by submission (unit × period × program, see macros/incremental.sql): the
    submissions logged since the last build are taken whole from int_figures_deduplicated and
    replace their rows; a submission left without figures of this fact is emptied. The loader
    admits only periods and programs the dimensions know, so the fact's period_code and
    program_code are the submission's. -#}
{% macro figures_fact(fact_name) %}

{{ incremental_by_groups(
    unique_key=['reporting_unit_code', 'period_code', 'program_code'],
    built_from='int_figures_deduplicated',
    indexes=[{'columns': ['current_province_code', 'period_code']}],
) }}

with

{{ changed_cte() }}

figures as (

    select * from {{ ref('int_figures_deduplicated') }}
    {{ where_changed() }}

),

indicators as (

    select * from {{ ref('dim_indicator') }}

),

admin_units as (

    select * from {{ ref('dim_admin_unit') }}

),

periods as (

    select * from {{ ref('dim_period') }}

),

programs as (

    select * from {{ ref('dim_program') }}

),

final as (

    select
        {{ surrogate_key(['figures.reporting_unit_code', 'figures.period_code',
                          'figures.indicator_code', 'figures.program_code']) }} as figure_id,
        coalesce(admin_units.admin_unit_id, 'unknown') as admin_unit_id,
        coalesce(admin_units.admin_unit_code, 'unknown') as admin_unit_code,
        admin_units.current_admin_unit_id,
        coalesce(admin_units.current_province_code, 'unknown') as current_province_code,
        coalesce(admin_units.is_split, false) as is_allocated,
        figures.reporting_unit_code,
        coalesce(periods.period_code, 'unknown') as period_code,
        coalesce(programs.program_code, 'unknown') as program_code,
        figures.indicator_code,
        figures.value,
        figures.qualifier,
        indicators.measure_unit,
        figures.submission_file_id,
        figures.source_row_number,
        figures.loaded_at,
        figures.version_count::integer as version_count,
        figures.version_number::integer as version_number

    from figures
    inner join indicators
        on figures.indicator_code = indicators.indicator_code
    left join periods
        on figures.period_code = periods.period_code
    left join admin_units
        on figures.reporting_unit_code = admin_units.admin_unit_code
        and {{ valid_on('admin_units', 'periods.end_date') }}
    left join programs
        on figures.program_code = programs.program_code
    where indicators.fact_name = '{{ fact_name }}'

)

select * from final

{% endmacro %}
