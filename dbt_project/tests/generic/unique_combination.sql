{#-
    Fails for every combination of `columns` that occurs on more than one row, listing
    the combination and how often it occurs. Nulls are grouped together like any other
    value, so two rows that both leave a column empty count as a repeat.
-#}
{% test unique_combination(model, columns) %}

    select
        {{ columns | join(',\n        ') }},
        count(*) as row_count
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1

{% endtest %}
