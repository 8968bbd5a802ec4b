with

videos as (

    select * from {{ ref('stg_catalog__videos') }}

),

final as (

    select
        video_id,
        title,
        genre,
        duration_seconds,
        duration_seconds / 60.0 as duration_minutes,
        series_id,
        season,
        episode_number,
        series_id is not null as is_episode
    from videos

)

select * from final
