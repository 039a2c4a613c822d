with

source as (

    select * from {{ source('raw', 'submission_rows') }}

),

final as (

    select
        file_id as submission_file_id,
        row_number as source_row_number,
        sheet_name as source_sheet,
        source_column,
        -- the loader resolved unit names to codes and read Vietnamese values; rows loaded before
        -- it did (plain codes and numbers) fall back to what was received
        coalesce(resolved_unit_code, reporting_unit_code) as reporting_unit_code,
        reporting_unit_code as reporting_unit_code_given,
        nullif(reporting_unit_name, '') as reporting_unit_name,
        period as period_code,
        indicator_code,
        coalesce(parsed_value, cast(value as numeric)) as value,
        value as value_given,
        coalesce(parsed_qualifier, nullif(qualifier, ''), 'exact') as qualifier,
        coalesce(nullif(program_code, ''), 'general') as program_code,
        nullif(note, '') as note

    from source

)

select * from final
