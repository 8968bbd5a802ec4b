{#-
    Helpers for incremental models whose cost follows the new data.

    The watermarks are read with run_query and written into the SQL as literals: Delta can
    skip files on a literal comparison, not on a scalar subquery.
-#}

{#- The largest `column` of this model's table as a SQL literal, or none on a full build. -#}
{% macro incremental_watermark(column) -%}
    {%- if not (execute and is_incremental()) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set found = run_query("select cast(max(" ~ column ~ ") as string) from " ~ this).columns[0].values()[0] -%}
    {{ return(none if found is none else "timestamp'" ~ found ~ "'") }}
{%- endmacro %}


{#-
    The distinct values of `partition_column` among the rows of `relation` loaded after
    this model's watermark on `loaded_at_column`, as a SQL list `('a', 'b')`; none on a
    full build. A model recomputes these partitions and `insert_overwrite`s them.
-#}
{% macro changed_partitions(relation, partition_column, loaded_at_column, watermark_column) -%}
    {%- set watermark = incremental_watermark(watermark_column) -%}
    {%- if watermark is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set query -%}
        select distinct cast({{ partition_column }} as string)
        from {{ relation }}
        where {{ loaded_at_column }} > {{ watermark }}
    {%- endset -%}
    {%- set values = run_query(query).columns[0].values() -%}
    {%- if values | length == 0 -%}
        {{ return("(null)") }}
    {%- endif -%}
    {{ return("('" ~ (values | sort | join("', '")) ~ "')") }}
{%- endmacro %}


{#-
    The largest `column` of `relation` right now, as a SQL literal: the upper bound of what an
    incremental run takes from an append-only source. Rows committed later (a stream keeps
    writing) lie above it and wait for the next run. `null` when the source is empty.
-#}
{% macro newest_value(relation, column) -%}
    {%- if not execute -%}
        {{ return("cast(null as timestamp)") }}
    {%- endif -%}
    {%- set found = run_query("select cast(max(" ~ column ~ ") as string) from " ~ relation).columns[0].values()[0] -%}
    {{ return("cast(null as timestamp)" if found is none else "timestamp'" ~ found ~ "'") }}
{%- endmacro %}


{#-
    The body of an import CTE: `relation`'s rows on the event dates that received rows since
    this model's watermark (all rows on a full build). Models that recompute whole days and
    `insert_overwrite` their partitions select from it.
-#}
{% macro rows_on_changed_dates(relation) -%}
    {%- set changed_dates = changed_partitions(relation, 'event_date', 'source_loaded_at', 'source_loaded_at') -%}
    select * from {{ relation }}
    {%- if changed_dates %}
    where event_date in {{ changed_dates }}
    {%- endif %}
{%- endmacro %}
