{#-
    Casts for values read out of a raw `record` jsonb column.

    Vendor payloads are stored untouched, so a field can arrive with a type other than
    the documented one: a number sent as a string, an object where a scalar belongs, or
    a malformed date. A plain `::numeric` on such a value raises and takes the whole
    staging view down with it, so each macro here returns null for a value it cannot
    read instead. Data tests on the staging columns then report the nulls.

    Every macro takes a jsonb expression, e.g. `record -> 'usage' -> 'output_tokens'`,
    except safe_timestamptz, which takes text so that it also serves text columns.
-#}


{#- Scalar text of a jsonb value; null for json null, objects, arrays and blank strings. -#}
{% macro json_text(json_value) -%}
    nullif(
        trim(
            case
                when jsonb_typeof({{ json_value }}) in ('string', 'number', 'boolean')
                    then {{ json_value }} #>> '{}'
            end
        ),
        ''
    )
{%- endmacro %}


{#- A json number, or a string holding a decimal number ("123.45", "1e3"); else null. -#}
{% macro safe_numeric(json_value) -%}
    case
        when jsonb_typeof({{ json_value }}) = 'number'
            then ({{ json_value }} #>> '{}')::numeric
        when
            jsonb_typeof({{ json_value }}) = 'string'
            and trim({{ json_value }} #>> '{}')
            ~ '^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,3})?$'
            then trim({{ json_value }} #>> '{}')::numeric
    end
{%- endmacro %}


{#-
    A whole number that fits a bigint (up to 18 digits, "1500" and 1500.0 included);
    null for anything else, fractions and overflowing values among them.
-#}
{% macro safe_bigint(json_value) -%}
    case
        when
            jsonb_typeof({{ json_value }}) in ('number', 'string')
            and trim({{ json_value }} #>> '{}') ~ '^[-+]?[0-9]{1,18}(\.0*)?$'
            then trim({{ json_value }} #>> '{}')::numeric::bigint
    end
{%- endmacro %}


{#-
    A count that vendors leave out when it is zero (token buckets, cache splits): an
    absent key or json null reads as 0, a present but unreadable value as null, so a bad
    value is reported by the not_null tests rather than silently becoming zero.
-#}
{% macro json_count(json_value) -%}
    case
        when {{ json_value }} is null or jsonb_typeof({{ json_value }}) = 'null' then 0
        else {{ safe_bigint(json_value) }}
    end
{%- endmacro %}


{#- true/false as json booleans or as the strings "true"/"false"; else null. -#}
{% macro safe_boolean(json_value) -%}
    case
        when jsonb_typeof({{ json_value }}) = 'boolean'
            then ({{ json_value }} #>> '{}')::boolean
        when lower(trim({{ json_value }} #>> '{}')) in ('true', 'false')
            then lower(trim({{ json_value }} #>> '{}'))::boolean
    end
{%- endmacro %}


{#-
    An ISO 8601 date or timestamp as timestamptz; null when the text is not one.

    A time may carry a UTC offset; a date alone, or a time without an offset, is read as
    UTC, never in the session's time zone. The
    shape is checked by a pattern first and the day against the length of its month
    second (the CASE branches run in order), so that "2026-02-30" yields null instead of
    raising: Postgres 15 has no cast that returns null on bad input.
-#}
{% macro safe_timestamptz(text_value) -%}
    {%- set value = 'trim(' ~ text_value ~ ')' -%}
    {%- set iso_8601 = (
        '^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])'
        ~ '([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?'
        ~ '([Zz]|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?)?$'
    ) -%}
    case
        when not coalesce({{ value }} ~ '{{ iso_8601 }}', false) then null
        when
            substr({{ value }}, 9, 2)::int > extract(
                day from (substr({{ value }}, 1, 7) || '-01')::date
                + interval '1 month' - interval '1 day'
            )
            then null
        when {{ value }} ~ '[T ].*([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$'
            then {{ value }}::timestamptz
        else {{ value }}::timestamp at time zone 'UTC'
    end
{%- endmacro %}
