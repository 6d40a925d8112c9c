-- For each UTC usage day, the Google Cloud billed cost in fct_costs equals the total of
-- the raw export rows (the latest load of each natural key, cost plus the row's
-- credits), to the cent. The export's rows never overlap, so their sum is what Google
-- bills for the day. Read from raw, not staging, so a row lost or a credit dropped on
-- the way is caught. A failure lists the day and both totals: rows lost, counted twice
-- or changed between raw and the ledger (or fct_costs is stale for that window).

-- Shown in Dagster as a check on fct_costs, the table whose contents it proves.
{{ config(meta={'dagster': {'ref': {'name': 'fct_costs'}}}) }}

with

raw_rows as (

    select distinct on (natural_key)
        natural_key,
        record
    from {{ source('gcp', 'gcp_billing_export') }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

raw_credits as (

    select
        raw_rows.natural_key,
        coalesce(sum((credit.value ->> 'amount')::numeric), 0) as credits
    from raw_rows
    left join lateral jsonb_array_elements(
        case
            when jsonb_typeof(raw_rows.record -> 'credits') = 'array'
                then raw_rows.record -> 'credits'
            else '[]'::jsonb
        end
    ) as credit (value) on true
    group by raw_rows.natural_key

),

raw_totals as (

    select
        date_trunc('day', (raw_rows.record ->> 'usage_start_time')::timestamptz at time zone 'UTC')
        at time zone 'UTC' as usage_day,
        sum((raw_rows.record ->> 'cost')::numeric + raw_credits.credits) as total
    from raw_rows
    inner join raw_credits
        on raw_rows.natural_key = raw_credits.natural_key
    group by usage_day

),

fct_totals as (

    select
        date_trunc('day', charge_period_start at time zone 'UTC')
        at time zone 'UTC' as usage_day,
        sum(billed_cost) as total
    from {{ ref('fct_costs') }}
    where x_source_system = 'gcp' and {{ in_run_window('charge_period_start') }}
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
