-- Splitting a feature's cost over its customers loses nothing: per feature and month,
-- the customers' AI and infrastructure costs in customer_feature_unit_economics add up
-- to the feature's production cost in cost_attribution, to the cent. A failure names
-- the feature and month and both sides of each total.

{{ config(meta={'dagster': {'ref': {'name': 'customer_feature_unit_economics'}}}) }}

with

attributed as (

    select
        feature,
        charge_month as month,
        round(coalesce(sum(billed_cost_usd) filter (where cost_kind = 'ai'), 0), 2)
            as ai_cost_usd,
        round(coalesce(sum(billed_cost_usd) filter (where cost_kind != 'ai'), 0), 2)
            as infrastructure_cost_usd
    from {{ ref('cost_attribution') }}
    where
        feature != 'unallocated'
        and project_phase = 'production'
        and environment in ('production', 'unallocated')
        and (
            (cost_kind in ('ai', 'cloud') and counts_in_totals)
            or cost_kind = 'infrastructure'
        )
    group by feature, charge_month

),

split as (

    select
        feature,
        month,
        sum(ai_cost_usd) as ai_cost_usd,
        sum(infrastructure_cost_usd) as infrastructure_cost_usd
    from {{ ref('customer_feature_unit_economics') }}
    group by feature, month

),

final as (

    select
        coalesce(attributed.feature, split.feature) as feature,
        coalesce(attributed.month, split.month) as month,
        attributed.ai_cost_usd as attributed_ai_cost_usd,
        split.ai_cost_usd as split_ai_cost_usd,
        attributed.infrastructure_cost_usd as attributed_infrastructure_cost_usd,
        split.infrastructure_cost_usd as split_infrastructure_cost_usd
    from attributed
    full outer join split
        on
            attributed.feature = split.feature
            and attributed.month = split.month
    where
        abs(coalesce(attributed.ai_cost_usd, 0) - coalesce(split.ai_cost_usd, 0)) >= 0.005
        or abs(
            coalesce(attributed.infrastructure_cost_usd, 0)
            - coalesce(split.infrastructure_cost_usd, 0)
        ) >= 0.005

)

select * from final
