-- Administrative units with history (type 2): one row per unit version, from the map before
-- 1 July 2025 and the map from that day. The reform reused codes (20242 was Phường Phước Ninh,
-- is Phường Hải Châu), so a version is keyed by code and first day. Every version carries its
-- successor on today's map: a ward's default successor (flagged when the old ward was split and
-- its figures are allocated to that default), a district's and a province's new province.

with

legacy_units as (

    select * from {{ ref('admin_units') }}

),

current_units as (

    select * from {{ ref('admin_units_2025') }}

),

successors as (

    select * from {{ ref('admin_unit_successors') }}

),

all_units as (

    select * from legacy_units
    union all
    select * from current_units

),

ward_successors as (

    select
        successors.old_code,
        successors.new_code,
        successors.is_split,
        current_units.province_code as new_province_code

    from successors
    inner join current_units
        on successors.new_code = current_units.admin_unit_code
    where successors.is_default

),

legacy_wards_today as (

    select
        legacy_units.admin_unit_code,
        legacy_units.parent_code as district_code,
        legacy_units.province_code,
        ward_successors.new_code,
        ward_successors.is_split,
        ward_successors.new_province_code

    from legacy_units
    inner join ward_successors
        on legacy_units.admin_unit_code = ward_successors.old_code
    where legacy_units.admin_level = 'ward'

),

-- a district or an old province goes to the new province most of its wards went to
districts_today as (

    select distinct on (district_code)
        district_code as admin_unit_code,
        new_province_code
    from legacy_wards_today
    group by district_code, new_province_code
    order by district_code, count(*) desc, new_province_code

),

provinces_today as (

    select distinct on (province_code)
        province_code as admin_unit_code,
        new_province_code
    from legacy_wards_today
    group by province_code, new_province_code
    order by province_code, count(*) desc, new_province_code

),

-- the five island districts without wards became special zones of their own
island_districts_today as (

    select
        successors.old_code as admin_unit_code,
        successors.new_code,
        current_units.province_code as new_province_code
    from successors
    inner join current_units on successors.new_code = current_units.admin_unit_code
    inner join legacy_units
        on successors.old_code = legacy_units.admin_unit_code
        and legacy_units.admin_level = 'district'

),

-- every abolished unit's successor on today's map, whatever its level
successors_today as (

    select admin_unit_code, 'ward' as admin_level, new_code, new_province_code, is_split
    from legacy_wards_today

    union all

    select admin_unit_code, 'district', new_province_code, new_province_code, false
    from districts_today

    union all

    select admin_unit_code, 'district', new_code, new_province_code, false
    from island_districts_today

    union all

    select admin_unit_code, 'province', new_province_code, new_province_code, false
    from provinces_today

),

versions as (

    select
        all_units.admin_unit_code || '@' || all_units.valid_from::text as admin_unit_id,
        all_units.admin_unit_code,
        all_units.admin_unit_name,
        all_units.short_name,
        all_units.short_name_ascii,
        all_units.admin_level,
        all_units.unit_type,
        nullif(all_units.parent_code, '') as parent_code,
        case
            when all_units.valid_to is null then null
            when all_units.admin_level = 'ward' then all_units.parent_code
            when all_units.admin_level = 'district' then all_units.admin_unit_code
        end as district_code,
        all_units.province_code,
        all_units.valid_from,
        all_units.valid_to,
        all_units.valid_to is null as is_current,
        case
            when all_units.valid_to is null then all_units.admin_unit_code
            else successors_today.new_code
        end as current_admin_unit_code,
        case
            when all_units.valid_to is null then all_units.province_code
            else successors_today.new_province_code
        end as current_province_code,
        coalesce(successors_today.is_split, false) as is_split

    from all_units
    left join successors_today
        on all_units.valid_to is not null
        and all_units.admin_unit_code = successors_today.admin_unit_code
        and all_units.admin_level = successors_today.admin_level

),

with_current_ids as (

    select
        versions.*,
        current_versions.admin_unit_code || '@' || current_versions.valid_from::text
            as current_admin_unit_id

    from versions
    left join current_units as current_versions
        on versions.current_admin_unit_code = current_versions.admin_unit_code

),

unknown_member as (

    select
        'unknown' as admin_unit_id,
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
        null::date as valid_to,
        false as is_current,
        null as current_admin_unit_code,
        null as current_province_code,
        false as is_split,
        null as current_admin_unit_id

),

final as (

    select * from with_current_ids
    union all
    select * from unknown_member

)

select * from final
