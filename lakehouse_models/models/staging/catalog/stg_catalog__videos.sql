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
        -- a film has no series; dbt-spark's session connection loads an empty seed cell as 'None'
        case when trim(series_id) not in ('', 'None') then trim(series_id) end as series_id,
        season,
        episode as episode_number
    from videos

)

select * from final
