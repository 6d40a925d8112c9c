{#-
    seeds/fx_rates.csv as date ranges: each rate applies from its effective_from up to
    (not including) the currency's next effective_from, or for ever when there is none.
    Join on currency and `day >= effective_from and (effective_to is null or day <
    effective_to)` to convert an amount at the rate of its day.
-#}

with

fx_rates as (

    select * from {{ ref('fx_rates') }}

),

final as (

    select
        upper(currency) as currency,
        usd_per_unit,
        effective_from,
        lead(effective_from) over (
            partition by upper(currency) order by effective_from
        ) as effective_to
    from fx_rates

)

select * from final
