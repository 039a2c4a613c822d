-- Administrative units as they were (the pre-July-2025 map for now), with the district each unit
-- rolls up to, and an "unknown" member so facts never drop a row on a failed lookup.

with

admin_units as (

    select * from {{ ref('admin_units') }}

),

units as (

    select
        admin_unit_code,
        admin_unit_name,
        short_name,
        short_name_ascii,
        admin_level,
        unit_type,
        nullif(parent_code, '') as parent_code,
        case admin_level
            when 'ward' then parent_code
            when 'district' then admin_unit_code
        end as district_code,
        province_code,
        valid_from,
        valid_to

    from admin_units

),

unknown_member as (

    select
        'unknown' as admin_unit_code,
        'Không xác định' as admin_unit_name,
        'Không xác định' as short_name,
        'Unknown' as short_name_ascii,
        'unknown' as admin_level,
        null as unit_type,
        null as parent_code,
        null as district_code,
        null as province_code,
        null::date as valid_from,
        null::date as valid_to

),

final as (

    select * from units
    union all
    select * from unknown_member

)

select * from final
