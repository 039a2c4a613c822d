-- Every figure read out of a loaded narrative report, with the review decision that holds: the
-- latest one taken on it (decisions are appended, so a changed mind leaves the earlier one in
-- raw). A figure nobody decided on needs review; only accepted figures count (see
-- int_figures_deduplicated).

with

narrative_figures as (

    select * from {{ ref('stg_raw__narrative_figures') }}

),

narrative_reviews as (

    select * from {{ ref('stg_raw__narrative_reviews') }}

),

submission_files as (

    select * from {{ ref('stg_raw__submission_files') }}
    where status = 'loaded' and submission_kind = 'narrative'

),

latest_reviews as (

    select * from (
        select
            *,
            row_number() over (
                partition by submission_file_id, figure_number
                order by narrative_review_id desc
            ) as decision_rank

        from narrative_reviews
    ) as ranked
    where decision_rank = 1

),

final as (

    select
        narrative_figures.submission_file_id,
        narrative_figures.figure_number,
        submission_files.file_name,
        submission_files.loaded_at,
        narrative_figures.reporting_unit_code,
        narrative_figures.period_code,
        narrative_figures.program_code,
        narrative_figures.indicator_code,
        narrative_figures.value,
        narrative_figures.qualifier,
        narrative_figures.figure_text,
        narrative_figures.sentence,
        narrative_figures.unit_mention,
        narrative_figures.period_mention,
        'narrative' as source_kind,
        coalesce(latest_reviews.decision, 'needs_review') as review_status,
        latest_reviews.reviewed_by,
        latest_reviews.reviewed_at,
        latest_reviews.review_note

    from narrative_figures
    inner join submission_files
        on narrative_figures.submission_file_id = submission_files.submission_file_id
    left join latest_reviews
        on narrative_figures.submission_file_id = latest_reviews.submission_file_id
        and narrative_figures.figure_number = latest_reviews.figure_number

)

select * from final
