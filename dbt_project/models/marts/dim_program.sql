with

programs as (

    select * from {{ ref('programs') }}

),

unknown_member as (

    select
        'unknown' as program_code,
        'Không xác định' as name_vi,
        'Unknown' as name_en,
        null as description_en

),

final as (

    select program_code, name_vi, name_en, description_en from programs
    union all
    select * from unknown_member

)

select * from final
