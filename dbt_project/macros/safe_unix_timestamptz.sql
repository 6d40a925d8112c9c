{#-
    Unix seconds, as vendors such as OpenAI state bucket bounds, as timestamptz; null
    for anything that is not a whole number of seconds from 1970 to the end of 9999.

    A jsonb expression goes in, like the casts in json_casts.sql, and for the same
    reason: `to_timestamp()` raises on a value out of range, which would take the whole
    staging view down, where a null is reported by the view's not_null tests instead.
-#}
{% macro safe_unix_timestamptz(json_value) -%}
    case
        when {{ safe_bigint(json_value) }} between 0 and 253402300799
            then to_timestamp({{ safe_bigint(json_value) }})
    end
{%- endmacro %}
