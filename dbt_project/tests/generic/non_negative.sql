{#-
    Fails for every row where the column is below zero. Nulls pass: whether a column may
    be null is the not_null test's business.
-#}
{% test non_negative(model, column_name) %}

    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} < 0

{% endtest %}
