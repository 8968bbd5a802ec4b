with

videos as (

    select * from {{ ref('stg_catalog__videos') }}

),

events as (

    select * from {{ ref('stg_playback__events') }}

),

catalog_members as (

    select
        video_id,
        title,
        genre,
        duration_seconds,
        series_id,
        season,
        episode_number,
        true as is_in_catalog,
        cast(null as timestamp) as first_seen_at
    from videos

),

-- Kimball's inferred member: a title viewers watch before the catalog lists it (published
-- before the catalog refresh, a client's typo) gets a row of its own instead of stopping gold
unknown_members as (

    select
        events.video_id,
        'Unknown title' as title,
        coalesce(max_by(events.genre, events.event_at), 'unknown') as genre,
        cast(null as int) as duration_seconds,
        cast(null as string) as series_id,
        cast(null as int) as season,
        cast(null as int) as episode_number,
        false as is_in_catalog,
        min(events.event_at) as first_seen_at
    from events
    left join videos on events.video_id = videos.video_id
    where videos.video_id is null
    group by events.video_id

),

members as (

    select * from catalog_members
    union all
    select * from unknown_members

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
        series_id is not null as is_episode,
        is_in_catalog,
        first_seen_at
    from members

)

select * from final
