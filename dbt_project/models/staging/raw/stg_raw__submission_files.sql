with

source as (

    select * from {{ source('raw', 'submission_files') }}

),

final as (

    select
        file_id as submission_file_id,
        file_name,
        sha256,
        size_bytes,
        source_format,
        encoding,
        submitting_unit_code,
        submission_kind,
        status,
        row_count,
        rejected_row_count,
        coalesce(submitted_at, loaded_at) as submitted_at,
        loaded_at

    from source

)

select * from final
