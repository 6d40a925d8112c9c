{{ config(tags=['metrics_source']) }}

{#-
    Mixpanel event counts in the universal metric shape: product.events, one row per
    UTC day, event and value of the configured property (unit events), tagged with the
    event and the property's value under the property's name. When that property is
    named feature or customer, its value also fills the taxonomy column of that name;
    "undefined" (events without the property) stays unallocated.
-#}

with

stg_mixpanel__event_counts as (

    select * from {{ ref('stg_mixpanel__event_counts') }}

),

observations as (

    select
        counts.event_count_id as natural_key,
        counts.event_day_at as observed_at,
        'product.events' as metric_type,
        counts.event_count::numeric as value,
        'events' as unit,
        jsonb_build_object('event', counts.event_name)
        || case
            when counts.property_name is not null
                then jsonb_build_object(counts.property_name, counts.property_value)
            else '{}'::jsonb
        end as tags,
        case
            when counts.property_name = 'feature' and counts.property_value <> 'undefined'
                then counts.property_value
        end as feature,
        case
            when counts.property_name = 'customer' and counts.property_value <> 'undefined'
                then counts.property_value
        end as customer
    from stg_mixpanel__event_counts as counts
    -- A day with none of an event adds nothing.
    where counts.event_day_at is not null and counts.event_count <> 0

),

final as (

    select
        {{ metric_id(
            "'mixpanel'",
            'observations.natural_key',
            'observations.metric_type',
        ) }} as metric_id,
        observations.observed_at,
        'mixpanel' as source_system,
        observations.metric_type,
        observations.value,
        observations.unit,
        observations.tags,
        'unallocated' as department,
        'unallocated' as team,
        'unallocated' as user_email,
        'unallocated' as project,
        coalesce(observations.customer, 'unallocated') as customer,
        coalesce(observations.feature, 'unallocated') as feature,
        'unallocated' as cost_category,
        'unallocated' as environment,
        'Mixpanel' as service,
        'unallocated' as region
    from observations

)

select * from final
