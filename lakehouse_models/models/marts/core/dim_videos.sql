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
        duration_seconds / 60.0 as duration_minutes
    from videos

)

select * from final
