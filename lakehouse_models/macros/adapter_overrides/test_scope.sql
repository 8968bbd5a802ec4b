{#-
    dbt-spark 1.11.0 has no `spark__get_where_subquery`: dbt's `get_where_subquery` (which wraps
    the model of every generic test) dispatches to `default__get_where_subquery` of dbt-adapters
    1.24.5, dbt/include/global_project/macros/materializations/tests/where_subquery.sql. A macro
    named `spark__get_where_subquery` in this project comes first in that dispatch.

    Changes versus upstream:
    - `where: "latest_load:<column>"` tests the rows whose `<column>` equals the largest one
      (`>=` it); `where: "latest_day:<column>"` the rows from the start of that value's day on.
      The largest value is read first (`max_timestamp_literal`, macros/incremental.sql) and
      written as a literal, so Delta skips the older files.
    - In those two forms the test reads the whole table when dbt parses (`not execute`),
      on `--full-refresh`, with `--vars '{test_all_rows: true}'` or when the table is empty.
    Any other `where` (or none) is handled by upstream's `default__get_where_subquery`, called
    as is.

    Why: tests on the big incremental tables check the rows of the latest load, not the whole
    history, so that an incremental build costs in proportion to what it loaded; a nightly
    `reelhouse dbt test --vars '{test_all_rows: true}'` (or a `--full-refresh` build) tests every
    row. The merges keep the rest true: silver and fct_views insert a key only when it is absent.
-#}
{% macro spark__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set scoped = where.split(':', 1) if where else [] -%}
    {%- if scoped | length == 2 and scoped[0] in ('latest_load', 'latest_day') -%}
        {%- set scope, column = scoped -%}
        {%- if not execute or flags.FULL_REFRESH or var('test_all_rows', false) -%}
            {{ return(relation) }}
        {%- endif -%}
        {%- set bound = max_timestamp_literal(relation, column) -%}
        {%- if bound is none -%}
            {{ return(relation) }}
        {%- endif -%}
        {%- if scope == 'latest_day' -%}
            {%- set bound = "date_trunc('day', " ~ bound ~ ")" -%}
        {%- endif -%}
        {{ return("(select * from " ~ relation ~ " where " ~ column ~ " >= " ~ bound ~ ") dbt_subquery") }}
    {%- endif -%}
    {{ return(default__get_where_subquery(relation)) }}
{%- endmacro %}
