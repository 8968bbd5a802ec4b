{#-
    Tests on the big incremental tables check the rows of the latest load, not the whole
    history, so that an incremental build costs in proportion to what it loaded. A test opts in
    with `config: {where: "latest_load:<loaded_at column>"}` (rows of the newest load) or
    `where: "latest_day:<time column>"` (rows of the newest day). A `--full-refresh` build, or
    `--vars '{test_all_rows: true}'` (e.g. a nightly `reelhouse dbt test`), tests every row.
    The bound is read first and written as a literal, so Delta skips the older files.
    The merges keep the rest true: silver and fct_views insert a key only when it is absent.
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
