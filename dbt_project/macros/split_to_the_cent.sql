{#-
    One share of an amount divided by weight, rounded to the cent so that the shares add
    up exactly to the rounded amount: the rounded running total through this share minus
    the rounded running total before it. `weight_through` is the running sum of the
    weights up to and including this share (a window ordered the same way for every
    share of the amount), `weight_total` the sum of all of them. Rounding each share on
    its own instead would gain or lose up to half a cent per share.
-#}
{% macro split_to_the_cent(amount, weight, weight_through, weight_total) -%}
    round({{ amount }} * {{ weight_through }} / {{ weight_total }}, 2)
    - round({{ amount }} * ({{ weight_through }} - {{ weight }}) / {{ weight_total }}, 2)
{%- endmacro %}
