{#-
    Fails for every row whose `column_name` (an end) is not after `start_column`, where
    both are set: a period must have a length.
-#}
{% test ends_after_start(model, column_name, start_column) %}

    select
        {{ start_column }} as period_start,
        {{ column_name }} as period_end
    from {{ model }}
    where {{ column_name }} <= {{ start_column }}

{% endtest %}
