{#-
    Copied from dbt-spark 1.11.0: `spark__reset_csv_table` in
    dbt/include/spark/macros/materializations/seed.sql, with the body of `spark__create_csv_table`
    (same file) written in. A macro of that name in this project replaces dbt-spark's; dbt's seed
    materialization calls it when the seed's table already exists.

    Changes versus upstream:
    - no `adapter.drop_relation(old_relation)` first, and `create or replace table` instead of
      `create table`. Seeds live at a location of their own (`location_root`), so their tables
      are external: dropping one keeps its Delta files, and the new table would start from the
      old rows. `create or replace` swaps the content in one Delta commit.
    Otherwise upstream's: column types (`column_types` or inferred), `quote_columns`, file
    format, `partition_by`, `clustered_by`, location and comment clauses; the statement runs as
    `statement('_')` and its SQL is returned; `full_refresh` is ignored (every run recreates).
-#}
{% macro spark__reset_csv_table(model, full_refresh, old_relation, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set quote_seed_column = model['config'].get('quote_columns', None) -%}
    {% set sql %}
        create or replace table {{ this.render() }} (
            {%- for col_name in agate_table.column_names -%}
                {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
                {%- set type = column_override.get(col_name, inferred_type) -%}
                {{ adapter.quote_seed_column(col_name | string, quote_seed_column) }} {{ type }}
                {%- if not loop.last -%}, {%- endif -%}
            {%- endfor -%}
        )
        {{ file_format_clause() }}
        {{ partition_cols(label="partitioned by") }}
        {{ clustered_cols(label="clustered by") }}
        {{ location_clause() }}
        {{ comment_clause() }}
    {% endset %}
    {% call statement('_') -%}
        {{ sql }}
    {%- endcall %}
    {{ return(sql) }}
{% endmacro %}
