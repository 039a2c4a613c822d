with

indicators as (

    select * from {{ ref('indicators') }}

),

final as (

    select
        indicator_code,
        name_vi,
        name_en,
        measure_unit,
        nullif(fact_name, '') as fact_name,
        is_additive,
        allows_fraction

    from indicators

)

select * from final
