with

user_days as (

    select * from {{ ref('int_user_days_aggregated') }}

),

activity_dates as (

    select distinct event_date as activity_date from user_days

),

windowed as (

    -- each date with the users active in the 30 days that end on it
    select
        activity_dates.activity_date,
        user_days.user_id,
        user_days.event_date
    from activity_dates
    inner join user_days
        on
            user_days.event_date between date_sub(activity_dates.activity_date, 29)
            and activity_dates.activity_date

),

counted as (

    select
        count(distinct case when event_date = activity_date then user_id end) as daily_active_users,
        count(
            distinct case when event_date > date_sub(activity_date, 7) then user_id end
        ) as weekly_active_users,
        count(distinct user_id) as monthly_active_users,
        activity_date
    from windowed
    group by activity_date

)

select * from counted
