with

videos as (

    select * from {{ ref('catalog_videos') }}

),

final as (

    select
        trim(video_id) as video_id,
        trim(title) as title,
        trim(genre) as genre,
        duration_seconds
    from videos

)

select * from final
