with

mixpanel_event_counts as (

    select * from {{ source('mixpanel', 'mixpanel_event_counts') }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from mixpanel_event_counts
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

-- data.values maps each segment (a property value, or the event's name when the
-- report was not split) to its counts per date.
cells as (

    select
        latest_loads.natural_key,
        latest_loads.partition_key,
        latest_loads.run_id,
        latest_loads.loaded_at,
        latest_loads.record,
        segments.segment,
        day_counts.day_text,
        day_counts.day_count
    from latest_loads
    cross join
        lateral jsonb_each(
            case
                when jsonb_typeof(latest_loads.record -> 'data' -> 'values') = 'object'
                    then latest_loads.record -> 'data' -> 'values'
                else '{}'::jsonb
            end
        ) as segments (segment, counts)
    cross join
        lateral jsonb_each(
            case
                when jsonb_typeof(segments.counts) = 'object' then segments.counts
                else '{}'::jsonb
            end
        ) as day_counts (day_text, day_count)

),

final as (

    select
        ---------- ids
        concat_ws('|', cells.natural_key, cells.segment, cells.day_text)
            as event_count_id,

        ---------- strings
        {{ json_text("cells.record -> 'event'") }} as event_name,
        {{ json_text("cells.record -> 'property_name'") }} as property_name,
        -- Without a property, the one segment is the event's name, not a value.
        case
            when {{ json_text("cells.record -> 'property_name'") }} is not null
                then cells.segment
        end as property_value,
        cells.partition_key,
        cells.run_id,

        ---------- numerics
        {{ safe_bigint('cells.day_count') }} as event_count,

        ---------- dates and timestamps
        -- A day in the project's timezone, stated as its UTC midnight.
        {{ safe_timestamptz('cells.day_text') }} as event_day_at,
        cells.loaded_at

    from cells
    where
        cells.day_text >= cells.record ->> 'from_date'
        and cells.day_text <= cells.record ->> 'to_date'

)

select * from final
