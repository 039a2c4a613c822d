with

source as (

    select * from {{ source('raw', 'narrative_reviews') }}

),

final as (

    select
        review_id as narrative_review_id,
        file_id as submission_file_id,
        figure_number,
        decision,
        reviewed_by,
        reviewed_at,
        note as review_note

    from source

)

select * from final
