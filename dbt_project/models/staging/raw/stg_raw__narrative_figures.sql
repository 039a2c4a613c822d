with

source as (

    select * from {{ source('raw', 'narrative_figures') }}

),

final as (

    select
        file_id as submission_file_id,
        figure_number,
        reporting_unit_code,
        period as period_code,
        coalesce(nullif(program_code, ''), 'general') as program_code,
        indicator_code,
        value,
        qualifier,
        text as figure_text,
        sentence,
        start_offset,
        end_offset,
        unit_mention,
        period_mention

    from source

)

select * from final
