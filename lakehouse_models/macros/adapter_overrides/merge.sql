{#-
    dbt-spark's merge, with two model configs of ours:
    - `merge_skip_matched: true` leaves rows that are already there untouched (insert only),
      so the first copy of a duplicated event wins over later ones;
    - `prune_target_on: <partition column>` limits the target side of the merge to the
      partitions that occur in the new rows, so a merge reads the partitions it can touch,
      not the whole table.
    Otherwise it is dbt-spark's `spark__get_merge_sql`.
-#}
{% macro spark__get_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) %}
    {%- set predicates = [] if incremental_predicates is none else [] + incremental_predicates -%}
    {%- set prune_column = config.get('prune_target_on') -%}
    {%- set touched = distinct_values_list(source, prune_column) if prune_column else none -%}
    {%- if touched -%}
        {%- do predicates.append("DBT_INTERNAL_DEST." ~ prune_column ~ " in " ~ touched) -%}
    {%- endif -%}
    {%- set merge_update_columns = config.get('merge_update_columns') -%}
    {%- set merge_exclude_columns = config.get('merge_exclude_columns') -%}
    {%- set update_columns = get_merge_update_columns(
        merge_update_columns, merge_exclude_columns, adapter.get_columns_in_relation(target)
    ) -%}
    {%- set keys = [unique_key] if unique_key is string else unique_key -%}
    {%- for key in keys -%}
        {%- do predicates.append("DBT_INTERNAL_SOURCE." ~ key ~ " = DBT_INTERNAL_DEST." ~ key) -%}
    {%- endfor %}

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
