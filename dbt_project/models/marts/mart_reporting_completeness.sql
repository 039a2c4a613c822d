-- Completeness and timeliness: one row per report a unit owed (see int_reports_expected), with
-- whether it arrived, and whether by its due date (Vietnam time). Received reports that nobody
-- owed are not counted, so completeness never exceeds 100%.

{{ config(indexes=[{'columns': ['current_province_code', 'period_code']}]) }}

with

expected as (

    select * from {{ ref('int_reports_expected') }}

),

received as (

    select * from {{ ref('int_reports_received') }}

),

final as (

    select
        {{ surrogate_key(['expected.obligation_code', 'expected.admin_unit_id',
                          'expected.period_code']) }} as reporting_obligation_id,
        expected.obligation_code,
        expected.admin_unit_id,
        expected.admin_unit_code,
        expected.admin_unit_name,
        expected.province_code,
        coalesce(expected.current_province_code, 'unknown') as current_province_code,
        expected.period_code,
        expected.period_end_date,
        expected.due_date,
        received.first_submitted_at,
        received.first_loaded_at,
        1 as expected,
        (received.admin_unit_id is not null)::integer as received,
        coalesce(
            (received.first_submitted_at at time zone 'Asia/Ho_Chi_Minh')::date
                <= expected.due_date,
            false
        )::integer as on_time,
        coalesce(
            (received.first_submitted_at at time zone 'Asia/Ho_Chi_Minh')::date
                > expected.due_date,
            false
        )::integer as late,
        (received.admin_unit_id is null)::integer as missing,
        case
            when received.admin_unit_id is null then 'missing'
            when (received.first_submitted_at at time zone 'Asia/Ho_Chi_Minh')::date
                <= expected.due_date then 'on_time'
            else 'late'
        end as status

    from expected
    left join received
        on expected.admin_unit_id = received.admin_unit_id
        and expected.period_code = received.period_code

)

select * from final
