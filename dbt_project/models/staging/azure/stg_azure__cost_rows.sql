{#-
    A grouping value of a row is its column of that name, else the value the query was
    filtered to: the split queries of a three-way grouping (see clients/azure.py) filter on
    the first grouping and carry its value under `filter`.
-#}

with

azure_cost_query as (

    select * from {{ source('azure', 'azure_cost_query') }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from azure_cost_query
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

typed as (

    select
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record,
        {{ json_text("record -> 'scope'") }} as scope,
        {{ json_text("record -> 'UsageDate'") }} as usage_date_text,
        coalesce(
            {{ json_text("record -> 'SubscriptionId'") }},
            {{ json_text("record -> 'filter' -> 'SubscriptionId'") }}
        ) as subscription_id_column,
        coalesce(
            {{ json_text("record -> 'ResourceGroupName'") }},
            {{ json_text("record -> 'filter' -> 'ResourceGroupName'") }}
        ) as resource_group_column
    from latest_loads

),

final as (

    select
        ---------- ids
        natural_key as cost_row_id,
        scope,
        coalesce(
            subscription_id_column,
            substring(scope from '(?i)^/subscriptions/([^/]+)')
        ) as subscription_id,
        substring(
            scope from '(?i)^/providers/Microsoft\.Billing/billingAccounts/([^/]+)'
        ) as billing_account_id,

        ---------- strings
        case
            when scope ~* '^/subscriptions/[^/]+/resourceGroups/[^/]+$' then 'resource_group'
            when scope ~* '^/subscriptions/[^/]+$' then 'subscription'
            when scope ~* '^/providers/Microsoft\.Billing/billingAccounts/[^/]+$'
                then 'billing_account'
            when scope ~* '^/providers/Microsoft\.Billing/' then 'billing_scope'
            when scope ~* '^/providers/Microsoft\.Management/managementGroups/'
                then 'management_group'
        end as scope_type,
        {{ json_text("record -> 'query_type'") }} as query_type,
        coalesce(
            resource_group_column,
            substring(scope from '(?i)^/subscriptions/[^/]+/resourceGroups/([^/]+)')
        ) as resource_group_name,
        coalesce(
            {{ json_text("record -> 'ServiceName'") }},
            {{ json_text("record -> 'filter' -> 'ServiceName'") }}
        ) as service_name,
        coalesce(
            {{ json_text("record -> 'ResourceLocation'") }},
            {{ json_text("record -> 'filter' -> 'ResourceLocation'") }}
        ) as resource_location,
        coalesce(
            {{ json_text("record -> 'ChargeType'") }},
            {{ json_text("record -> 'filter' -> 'ChargeType'") }}
        ) as charge_type,
        {{ json_text("record -> 'TagKey'") }} as tag_key,
        {{ json_text("record -> 'TagValue'") }} as tag_value,
        upper({{ json_text("record -> 'Currency'") }}) as currency,
        case
            when record ? 'Cost' then 'Cost'
            when record ? 'PreTaxCost' then 'PreTaxCost'
        end as cost_column,
        partition_key,
        run_id,

        ---------- numerics
        -- Costs arrive as JSON numbers; jsonb keeps the digits sent, so the cast to
        -- numeric adds no float error. MCA's Cost is in the billing currency, as
        -- PreTaxCost is on EA and pay-as-you-go; CostUSD is the same cost in dollars.
        coalesce(
            {{ safe_numeric("record -> 'Cost'") }},
            {{ safe_numeric("record -> 'PreTaxCost'") }}
        ) as cost,  -- noqa: RF04
        {{ safe_numeric("record -> 'CostUSD'") }} as cost_usd,

        ---------- dates
        case
            -- The integer yyyymmdd; a float of it (20261103.0) reads the same.
            when usage_date_text ~ '^[0-9]{8}(\.0+)?$'
                then (
                    {{ safe_timestamptz(
                        "substr(usage_date_text, 1, 4) || '-' || substr(usage_date_text, 5, 2)"
                        ~ " || '-' || substr(usage_date_text, 7, 2)"
                    ) }}
                )::date
        end as usage_date,

        ---------- timestamps
        loaded_at

    from typed

)

select * from final
