-- a fixed calendar: built once, then left alone by incremental runs
{{ config(materialized='incremental', incremental_strategy='append') }}

with

days as (

    select explode(sequence(date '2020-01-01', date '2035-12-31', interval 1 day)) as date_day

),

calendar as (

    select
        date_day,
        date_format(date_day, 'EEEE') as day_name,
        date_format(date_day, 'MMMM') as month_name,
        year(date_day) as year_number,
        quarter(date_day) as quarter_number,
        month(date_day) as month_number,
        weekofyear(date_day) as iso_week_number,
        dayofweek(date_day) in (1, 7) as is_weekend,
        cast(date_trunc('week', date_day) as date) as week_start_date,
        trunc(date_day, 'month') as month_start_date
    from days

),

final as (

    select calendar.*
    from calendar
    {% if is_incremental() -%}
        left anti join {{ this }} as built on calendar.date_day = built.date_day
    {%- endif %}

)

select * from final
