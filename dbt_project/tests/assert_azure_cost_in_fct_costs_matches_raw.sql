-- For each UTC day, the Azure billed cost in fct_costs equals the ActualCost total of
-- the raw Cost Management rows (the latest load of each natural key, the cost read from
-- Cost or PreTaxCost, whichever the agreement reports), to the cent. The raw rows never
-- share a cost (the collector's split queries see to it), so their plain sum is what
-- Azure billed. A failure lists the day and both totals: rows lost, counted twice or
-- changed between raw and the ledger (or fct_costs is stale for that window).

-- Shown in Dagster as a check on fct_costs, the table whose contents it proves.
{{ config(meta={'dagster': {'ref': {'name': 'fct_costs'}}}) }}

with

raw_rows as (

    select distinct on (natural_key)
        natural_key,
        record
    from {{ source('azure', 'azure_cost_query') }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

raw_totals as (

    select
        to_date(left(record ->> 'UsageDate', 8), 'YYYYMMDD')::timestamp at time zone 'UTC'
            as usage_day,
        sum(coalesce(record ->> 'Cost', record ->> 'PreTaxCost')::numeric) as total
    from raw_rows
    where
        record ->> 'query_type' = 'ActualCost'
        and record ->> 'UsageDate' ~ '^[0-9]{8}(\.0+)?$'
    group by usage_day

),

fct_totals as (

    select
        date_trunc('day', charge_period_start at time zone 'UTC')
        at time zone 'UTC' as usage_day,
        sum(billed_cost) as total
    from {{ ref('fct_costs') }}
    where x_source_system = 'azure' and {{ in_run_window('charge_period_start') }}
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
