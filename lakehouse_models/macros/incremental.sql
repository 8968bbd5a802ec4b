{#-
    Helpers for incremental models whose cost follows the new data.

    The watermarks are read with run_query and written into the SQL as literals: Delta can
    skip files on a literal comparison, not on a scalar subquery.
-#}

{#- The largest timestamp `column` of `relation` as a SQL literal, or none when it has no rows. -#}
{% macro max_timestamp_literal(relation, column) -%}
    {%- set found = run_query("select cast(max(" ~ column ~ ") as string) from " ~ relation).columns[0].values()[0] -%}
    {{ return(none if found is none else "timestamp'" ~ found ~ "'") }}
{%- endmacro %}


{#- The distinct values of `column` in `relation` (where `condition`) as a SQL list `('a', 'b')`, or none. -#}
{% macro distinct_values_list(relation, column, condition='true') -%}
    {%- set values = run_query(
        "select distinct cast(" ~ column ~ " as string) from " ~ relation ~ " where " ~ condition
    ).columns[0].values() -%}
    {{ return(none if values | length == 0 else "('" ~ (values | sort | join("', '")) ~ "')") }}
{%- endmacro %}


{#- The largest `column` of this model's table as a SQL literal, or none on a full build. -#}
{% macro incremental_watermark(column) -%}
    {%- if not (execute and is_incremental()) -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(max_timestamp_literal(this, column)) }}
{%- endmacro %}


{#-
    The distinct values of `partition_column` among the rows of `relation` whose
    `loaded_at_column` is past this model's largest one, as a SQL list `('a', 'b')`; none on a
    full build. A model recomputes these partitions and `insert_overwrite`s them.
-#}
{% macro changed_partitions(relation, partition_column, loaded_at_column) -%}
    {%- set watermark = incremental_watermark(loaded_at_column) -%}
    {%- if watermark is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set changed = distinct_values_list(relation, partition_column, loaded_at_column ~ " > " ~ watermark) -%}
    {{ return("(null)" if changed is none else changed) }}
{%- endmacro %}


{#-
    The body of an import CTE: `relation`'s rows on the event dates that received rows since
    this model's watermark (all rows on a full build). Models that recompute whole days and
    `insert_overwrite` their partitions select from it.
-#}
{% macro rows_on_changed_dates(relation) -%}
    {%- set changed_dates = changed_partitions(relation, 'event_date', 'source_loaded_at') -%}
    select * from {{ relation }}
    {%- if changed_dates %}
    where event_date in {{ changed_dates }}
    {%- endif %}
{%- endmacro %}


{#- The largest `column` of this model's table (a number), or none on a full build. -#}
{% macro incremental_max(column) -%}
    {%- if not (execute and is_incremental()) -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(run_query("select max(" ~ column ~ ") from " ~ this).columns[0].values()[0]) }}
{%- endmacro %}


{#-
    The current version of the Delta table `relation`: an upper bound of what a run reads that
    only grows, whatever the writers' clocks say (0 at parse time).
-#}
{% macro delta_version(relation) -%}
    {%- if not execute -%}
        {{ return(0) }}
    {%- endif -%}
    {{ return(run_query("describe history " ~ relation ~ " limit 1").columns[0].values()[0] | int) }}
{%- endmacro %}


{#-
    The body of an import CTE: the rows that Delta commits after `version_after` up to
    `version_through` inserted into `relation` (its change data feed); every row when
    `version_after` is none (a full build).
-#}
{% macro rows_inserted_between(relation, version_after, version_through) -%}
    {%- if version_after is none -%}
    select * from {{ relation }}
    {%- elif version_after | int < version_through | int -%}
    select * from table_changes('{{ relation }}', {{ version_after | int + 1 }}, {{ version_through }})
    where _change_type = 'insert'
    {%- else -%}
    select * from {{ relation }} where false
    {%- endif -%}
{%- endmacro %}
