-- For each UTC day, the AWS billed cost in fct_costs equals the total of the raw Cost
-- Explorer groups (the latest load of each natural key, the amount of the metric each
-- record says the ledger bills), to the cent. Cost Explorer's groups of one day never
-- overlap, so their plain sum is that day's bill. A failure lists the day and both
-- totals: groups lost, counted twice or changed between raw and the ledger (or
-- fct_costs is stale for that window).

-- Shown in Dagster as a check on fct_costs, the table whose contents it proves.
{{ config(meta={'dagster': {'ref': {'name': 'fct_costs'}}}) }}

with

raw_groups as (

    select distinct on (natural_key)
        natural_key,
        record
    from {{ source('aws', 'aws_cost_explorer') }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

raw_totals as (

    select
        (record -> 'time_period' ->> 'Start')::date::timestamp at time zone 'UTC' as usage_day,
        sum(
            (
                record
                -> 'metrics'
                -> coalesce(record ->> 'billed_cost_metric', 'UnblendedCost')
                ->> 'Amount'
            )::numeric
        ) as total
    from raw_groups
    where record -> 'time_period' ->> 'Start' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'
    group by usage_day

),

fct_totals as (

    select
        date_trunc('day', charge_period_start at time zone 'UTC')
        at time zone 'UTC' as usage_day,
        sum(billed_cost) as total
    from {{ ref('fct_costs') }}
    where x_source_system = 'aws' and {{ in_run_window('charge_period_start') }}
    group by usage_day

),

final as (

    select
        coalesce(raw_totals.usage_day, fct_totals.usage_day) as usage_day,
        raw_totals.total as raw_total,
        fct_totals.total as fct_total
    from raw_totals
    full outer join fct_totals
        on raw_totals.usage_day = fct_totals.usage_day
    where
        {{ in_run_window('coalesce(raw_totals.usage_day, fct_totals.usage_day)') }}
        and abs(coalesce(raw_totals.total, 0) - coalesce(fct_totals.total, 0)) >= 0.005

)

select * from final
