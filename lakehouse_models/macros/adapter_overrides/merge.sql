{#-
    Copied from dbt-spark 1.11.0: `spark__get_merge_sql` in
    dbt/include/spark/macros/materializations/incremental/strategies.sql. A macro of that name in
    this project replaces dbt-spark's for every `incremental_strategy='merge'` model.

    Changes versus upstream (both apply only when a model sets the config):
    - `prune_target_on: <partition column>` (new config): adds
      `DBT_INTERNAL_DEST.<column> in (<the column's distinct values in the source rows>)` to the
      merge condition, after the `incremental_predicates` and before the key predicates, so a
      merge reads the target partitions it can touch, not the whole table. The values are read
      with `distinct_values_list` (macros/incremental.sql); an empty source adds nothing.
    - `merge_skip_matched: true` (new config): leaves out `when matched then update set ...`,
      so rows that are already there stay untouched (insert only) and the first copy of a
      duplicated event wins over later ones.
    Otherwise upstream's, including: a `unique_key` string or list gives one
    `DBT_INTERNAL_SOURCE.<key> = DBT_INTERNAL_DEST.<key>` per key; no `unique_key` gives `FALSE`
    (no row matches: every source row is inserted); the predicates are joined with `and`;
    `merge_update_columns` / `merge_exclude_columns` choose the updated columns (else `*`).
    Only the whitespace of the rendered SQL differs.
-#}
{% macro spark__get_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) %}
    {%- set predicates = [] if incremental_predicates is none else [] + incremental_predicates -%}
    {%- set prune_column = config.get('prune_target_on') -%}
    {%- set touched = distinct_values_list(source, prune_column) if prune_column else none -%}
    {%- if touched -%}
        {%- do predicates.append("DBT_INTERNAL_DEST." ~ prune_column ~ " in " ~ touched) -%}
    {%- endif -%}
    {%- set dest_columns = adapter.get_columns_in_relation(target) -%}
    {%- set merge_update_columns = config.get('merge_update_columns') -%}
    {%- set merge_exclude_columns = config.get('merge_exclude_columns') -%}
    {%- set update_columns = get_merge_update_columns(merge_update_columns, merge_exclude_columns, dest_columns) -%}

    {%- if unique_key -%}
        {%- if unique_key is sequence and unique_key is not mapping and unique_key is not string -%}
            {%- for key in unique_key -%}
                {%- do predicates.append("DBT_INTERNAL_SOURCE." ~ key ~ " = DBT_INTERNAL_DEST." ~ key) -%}
            {%- endfor -%}
        {%- else -%}
            {%- do predicates.append("DBT_INTERNAL_SOURCE." ~ unique_key ~ " = DBT_INTERNAL_DEST." ~ unique_key) -%}
        {%- endif -%}
    {%- else -%}
        {%- do predicates.append('FALSE') -%}
    {%- endif %}

    {{ sql_header if sql_header is not none }}

    merge into {{ target }} as DBT_INTERNAL_DEST
    using {{ source }} as DBT_INTERNAL_SOURCE
    on {{ predicates | join(' and ') }}
    {%- if not config.get('merge_skip_matched', false) %}
    when matched then update set
        {% if update_columns -%}
            {%- for column_name in update_columns -%}
                {{ column_name }} = DBT_INTERNAL_SOURCE.{{ column_name }}{{ ", " if not loop.last }}
            {%- endfor -%}
        {%- else %} * {% endif %}
    {%- endif %}
    when not matched then insert *
{% endmacro %}
