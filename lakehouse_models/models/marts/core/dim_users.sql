with

user_days as (

    select * from {{ ref('int_user_days_aggregated') }}

),

users as (

    select
        user_id,
        max_by(latest_region, last_view_at) as latest_region,
        max_by(latest_device_type, last_view_at) as latest_device_type,
        sum(views) as lifetime_views,
        sum(watch_time_seconds) / 3600.0 as lifetime_watch_hours,
        count(*) as active_days,
        min(event_date) as first_seen_date,
        min(first_view_at) as first_seen_at,
        max(last_view_at) as last_seen_at
    from user_days
    group by user_id

)

select * from users
