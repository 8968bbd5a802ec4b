-- recomputes the days that received new views, and overwrites their partitions
{{ config(materialized='incremental', incremental_strategy='insert_overwrite', partition_by=['event_date']) }}

with

views as (

    {{ rows_on_changed_dates(ref('fct_views')) }}

),

daily as (

    select
        count(*) as views,
        count_if(is_recommended) as recommended_views,
        count_if(is_recommended) / count(*) as recommendation_uptake_rate,
        avg(case when is_recommended then completion_ratio end) as recommended_completion_rate,
        avg(case when not is_recommended then completion_ratio end) as organic_completion_rate,
        avg(case when is_recommended then cast(is_skipped as int) end) as recommended_skip_rate,
        avg(case when not is_recommended then cast(is_skipped as int) end) as organic_skip_rate,
        event_date,
        max(source_loaded_at) as source_loaded_at
    from views
    group by event_date

)

select * from daily
