{#-
    A raw record is one series of one query_range request: its labels, its values as
    [unix seconds, "value"] pairs, and the query it answered (see clients/prometheus.py).
    Each pair becomes a row here. Prometheus writes values as strings and may send
    "NaN", "+Inf" or "-Inf": those keep their text in value_text, get a null value and
    is_finite false, so fct_metrics only ever receives finite numbers.
-#}

with

prometheus_series as (

    select * from {{ source('prometheus', 'prometheus_series') }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from prometheus_series
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

labelled as (

    select
        partition_key,
        run_id,
        loaded_at,
        record,
        case
            when jsonb_typeof(record -> 'metric') = 'object' then record -> 'metric'
            else '{}'::jsonb
        end as labels
    from latest_loads

),

-- Tags are picked once per series, before its samples are unnested: the labels the
-- query's `tags` lists, or every label but __name__ when it lists none.
series as (

    select
        partition_key,
        run_id,
        loaded_at,
        record,
        labels,
        case
            when jsonb_typeof(record -> 'tag_labels') = 'array'
                then (
                    select
                        coalesce(
                            jsonb_object_agg(series_label.label_name, series_label.label_value),
                            '{}'::jsonb
                        )
                    from jsonb_each(labelled.labels) as series_label (label_name, label_value)
                    where labelled.record -> 'tag_labels' ? series_label.label_name
                )
            else labels - '__name__'
        end as tags
    from labelled

),

samples as (

    select
        series.partition_key,
        series.run_id,
        series.loaded_at,
        series.record,
        series.labels,
        series.tags,
        sample.pair
    from series
    cross join lateral jsonb_array_elements(
        case
            when jsonb_typeof(series.record -> 'values') = 'array'
                then series.record -> 'values'
            else '[]'::jsonb
        end
    ) as sample (pair)

),

final as (

    select
        ---------- ids
        concat_ws(
            '|',
            {{ json_text("record -> 'query_name'") }},
            labels::text,
            pair ->> 0
        ) as sample_id,

        ---------- strings
        {{ json_text("record -> 'query_name'") }} as query_name,
        {{ json_text("record -> 'promql'") }} as promql,
        {{ json_text("record -> 'unit'") }} as unit,
        {{ json_text("record -> 'value_kind'") }} as value_kind,
        {{ json_text("labels -> 'namespace'") }} as namespace,
        {{ json_text("labels -> 'service'") }} as service,
        {{ json_text("labels -> 'team'") }} as team,
        {{ json_text("labels -> 'environment'") }} as environment,
        {{ json_text("labels -> 'region'") }} as region,
        {{ json_text("pair -> 1") }} as value_text,
        partition_key,
        run_id,

        ---------- json
        labels,
        tags,

        ---------- numerics
        {{ safe_numeric("pair -> 1") }} as value,
        {{ safe_bigint("record -> 'step_s'") }} as step_seconds,

        ---------- booleans
        {{ safe_numeric("pair -> 1") }} is not null as is_finite,

        ---------- timestamps
        case
            when {{ safe_numeric("pair -> 0") }} between 0 and 253402300799
                then to_timestamp({{ safe_numeric("pair -> 0") }}::double precision)
        end as sampled_at,
        loaded_at

    from samples

)

select * from final
