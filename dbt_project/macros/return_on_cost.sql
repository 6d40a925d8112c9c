{#-
    The return on a cost: what was gained beyond the cost, per dollar of cost,
    (value - cost) / cost, to four decimals without trailing zeros. 0.5 means the value
    is one and a half times the cost, -1 that nothing was gained. Null when there is no
    cost, since a return on nothing has no meaning.
-#}
{% macro return_on_cost(value_column, cost_column) -%}
    case
        when {{ cost_column }} > 0
            then trim_scale(
                round(({{ value_column }} - {{ cost_column }}) / {{ cost_column }}, 4)
            )
    end
{%- endmacro %}
