with

source as (

    select * from {{ source('raw', 'submission_rows') }}

),

final as (

    select
        file_id as submission_file_id,
        row_number as source_row_number,
        reporting_unit_code,
        nullif(reporting_unit_name, '') as reporting_unit_name,
        period as period_code,
        indicator_code,
        cast(value as numeric) as value,
        coalesce(nullif(qualifier, ''), 'exact') as qualifier,
        coalesce(nullif(program_code, ''), 'general') as program_code,
        nullif(note, '') as note

    from source

)

select * from final
