{#- Rows whose value lies outside [min_value, max_value] (nulls pass: not_null checks those). -#}
{% test between(model, column_name, min_value, max_value) %}

    select *
    from {{ model }}
    where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}

{% endtest %}


{#- Rows whose value does not match the regular expression `pattern`. -#}
{% test matches_pattern(model, column_name, pattern) %}

    select *
    from {{ model }}
    where not regexp({{ column_name }}, '{{ pattern }}')

{% endtest %}


{#- Rows of `columns` that occur more than once: the grain of a table with a composite key. -#}
{% test unique_combination(model, columns) %}

    select {{ columns | join(', ') }}, count(*) as occurrences
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1

{% endtest %}
