{#-
    For each observation, the list price in force for its model on its date.

    `observations` and `prices` are relations or CTE names; `prices` has the shape of
    dim_model_prices. A price applies when the observation's model id matches its
    model_pattern (SQL LIKE) and the observation's UTC date lies in
    [effective_from, effective_to). When several patterns match, the longest one is the
    most specific and wins ("claude-sonnet-4-5%" over "claude-sonnet-4%"); equal lengths
    fall back to the pattern text so that the choice never depends on row order.

    `provider` is either a provider's name (every observation is that provider's) or,
    with `provider_is_column=true`, the observations' column that holds each row's
    provider.

    Returns one row per matched observation key: the key, price_id, the five rates and
    the batch multiplier. Observations without a price are absent, so callers left join
    to the result.
-#}
{% macro match_model_prices(
    observations,
    key_column,
    model_column,
    observed_at_column,
    prices,
    provider,
    provider_is_column=false
) -%}
    select distinct on ({{ observations }}.{{ key_column }})
        {{ observations }}.{{ key_column }},
        {{ prices }}.price_id,
        {{ prices }}.input_per_mtok,
        {{ prices }}.output_per_mtok,
        {{ prices }}.cache_read_per_mtok,
        {{ prices }}.cache_write_5m_per_mtok,
        {{ prices }}.cache_write_1h_per_mtok,
        {{ prices }}.batch_multiplier
    from {{ observations }}
    inner join {{ prices }}
        on
            {{ observations }}.{{ model_column }} like {{ prices }}.model_pattern
            and ({{ observations }}.{{ observed_at_column }} at time zone 'UTC')::date
            >= {{ prices }}.effective_from
            and ({{ observations }}.{{ observed_at_column }} at time zone 'UTC')::date
            < {{ prices }}.effective_to
    {%- if provider_is_column %}
    where {{ prices }}.provider = {{ observations }}.{{ provider }}
    {%- else %}
    where {{ prices }}.provider = '{{ provider }}'
    {%- endif %}
    order by
        {{ observations }}.{{ key_column }} asc,
        length({{ prices }}.model_pattern) desc,
        {{ prices }}.model_pattern asc
{%- endmacro %}
