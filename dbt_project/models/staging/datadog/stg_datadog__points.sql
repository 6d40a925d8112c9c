{#-
    A raw record is one series of one metrics query (see clients/datadog.py): its scope,
    tag set, units and pointlist of [milliseconds, value] pairs. Each point becomes a row
    here. Only points inside the request's [from_date, to_date] are kept, so a day's
    request can never hand a neighbouring day's point to fct_metrics; a point Datadog
    states as null (no data in that interval) keeps a null value.
-#}

with

datadog_metric_series as (

    select * from {{ source('datadog', 'datadog_metric_series') }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from datadog_metric_series
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

-- The scope names the tags that identify a series (filters and group-bys alike):
-- "key:value" items, a valueless tag becoming true; "*" and negations name none.
scoped as (

    select
        partition_key,
        run_id,
        loaded_at,
        record,
        (
            select
                coalesce(
                    jsonb_object_agg(
                        split_part(scope_item.tag, ':', 1),
                        case
                            when strpos(scope_item.tag, ':') > 0
                                then to_jsonb(substring(scope_item.tag from ':(.*)$'))
                            else 'true'::jsonb
                        end
                    ),
                    '{}'::jsonb
                )
            from
                unnest(
                    string_to_array({{ json_text("latest_loads.record -> 'scope'") }}, ',')
                ) as scope_item (tag)
            where
                trim(scope_item.tag) not in ('', '*')
                and left(trim(scope_item.tag), 1) <> '!'
        ) as scope_tags
    from latest_loads

),

-- The tags kept: those whose keys the query's `tags` lists, else all of them.
series as (

    select
        partition_key,
        run_id,
        loaded_at,
        record,
        scope_tags,
        case
            when jsonb_typeof(record -> 'tag_keys') = 'array'
                then (
                    select coalesce(jsonb_object_agg(tag.tag_key, tag.tag_value), '{}'::jsonb)
                    from jsonb_each(scoped.scope_tags) as tag (tag_key, tag_value)
                    where scoped.record -> 'tag_keys' ? tag.tag_key
                )
            else scope_tags
        end as tags
    from scoped

),

points as (

    select
        series.partition_key,
        series.run_id,
        series.loaded_at,
        series.record,
        series.scope_tags,
        series.tags,
        series_point.pair,
        {{ safe_numeric("series_point.pair -> 0") }} as point_ms
    from series
    cross join lateral jsonb_array_elements(
        case
            when jsonb_typeof(series.record -> 'pointlist') = 'array'
                then series.record -> 'pointlist'
            else '[]'::jsonb
        end
    ) as series_point (pair)

),

final as (

    select
        ---------- ids
        concat_ws(
            '|',
            {{ json_text("record -> 'query_name'") }},
            {{ json_text("record -> 'query_index'") }},
            {{ json_text("record -> 'expression'") }},
            {{ json_text("record -> 'scope'") }},
            point_ms::bigint
        ) as point_id,

        ---------- strings
        {{ json_text("record -> 'query_name'") }} as query_name,
        {{ json_text("record -> 'query'") }} as query_text,
        {{ json_text("record -> 'metric'") }} as metric,
        {{ json_text("record -> 'expression'") }} as series_expression,
        {{ json_text("record -> 'scope'") }} as scope,
        {{ json_text("record -> 'unit_configured'") }} as unit,
        {{ json_text("record -> 'unit' -> 0 -> 'name'") }} as datadog_unit,
        {{ json_text("scope_tags -> 'service'") }} as service,
        {{ json_text("scope_tags -> 'team'") }} as team,
        {{ json_text("scope_tags -> 'env'") }} as environment,
        {{ json_text("scope_tags -> 'region'") }} as region,
        partition_key,
        run_id,

        ---------- json
        scope_tags,
        tags,

        ---------- numerics
        {{ safe_numeric('pair -> 1') }} as value,
        {{ safe_bigint("record -> 'interval'") }} as interval_seconds,

        ---------- timestamps
        case
            when point_ms between 0 and 253402300799999
                then to_timestamp(point_ms::double precision / 1000)
        end as observed_at,
        loaded_at

    from points
    where
        point_ms >= coalesce({{ safe_numeric("record -> 'from_date'") }}, point_ms)
        and point_ms <= coalesce({{ safe_numeric("record -> 'to_date'") }}, point_ms)

)

select * from final
