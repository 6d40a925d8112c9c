-- No two prices for the same provider and model pattern are in force on the same day.
-- A failure lists both overlapping rows: the price lookup would then have two equally
-- specific candidates for that day, and the seed needs one of them ended.

with

dim_model_prices as (

    select * from {{ ref('dim_model_prices') }}

),

final as (

    select
        earlier.price_id as earlier_price_id,
        later.price_id as later_price_id,
        earlier.effective_to as earlier_effective_to,
        later.effective_from as later_effective_from
    from dim_model_prices as earlier
    inner join dim_model_prices as later
        on
            earlier.provider = later.provider
            and earlier.model_pattern = later.model_pattern
            and earlier.effective_from < later.effective_from
            and earlier.effective_to > later.effective_from

)

select * from final
