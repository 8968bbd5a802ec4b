with

videos as (

    select * from {{ ref('catalog_videos') }}

),

final as (

    select
        trim(video_id) as video_id,
        trim(title) as title,
        trim(genre) as genre,
        duration_seconds,
        nullif(trim(series_id), '') as series_id,
        season,
        episode as episode_number
    from videos

)

select * from final
