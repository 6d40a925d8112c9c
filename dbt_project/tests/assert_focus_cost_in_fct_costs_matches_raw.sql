-- For each UTC day, the FOCUS billed cost in fct_costs equals the total BilledCost of the
-- raw FOCUS rows (the latest load of each file and row, read from the record's text), to
-- the cent. Each file's rows are its own partition, so a file delivered again counts
-- once. A failure lists the day and both totals: rows lost, counted twice or changed
-- between the imported files and the ledger (or fct_costs is stale for that window).

-- Shown in Dagster as a check on fct_costs, the table whose contents it proves.
{{ config(meta={'dagster': {'ref': {'name': 'fct_costs'}}}) }}

with

raw_rows as (

    select distinct on (natural_key)
        natural_key,
        record
    from {{ source('focus', 'focus_rows') }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

raw_totals as (

    select
        date_trunc(
            'day',
            {{ safe_timestamptz("record ->> 'ChargePeriodStart'") }} at time zone 'UTC'
        ) at time zone 'UTC' as usage_day,
        sum({{ safe_numeric("record -> 'BilledCost'") }}) as total
    from raw_rows
    group by usage_day

),

fct_totals as (

    select
        date_trunc('day', charge_period_start at time zone 'UTC')
        at time zone 'UTC' as usage_day,
        sum(billed_cost) as total
    from {{ ref('fct_costs') }}
    where x_source_system = 'focus' and {{ in_run_window('charge_period_start') }}
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
