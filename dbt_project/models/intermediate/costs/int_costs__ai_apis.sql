{{ config(tags=['costs_source']) }}

{#-
    What the AI API vendors bill (fct_ai_usage rows with is_billed), as ledger lines: one
    per day, provider, model, token type, API key and attribution. The money is the
    vendor's own report where there is one (cost_origin reported), else list price;
    list_cost is always list price, so billed against list shows the discount. Usage the
    vault only attributes or estimates (transcripts, analytics, the company's tracking)
    is not billed money and stays out of the ledger.
-#}

with

ai_usage as (

    select * from {{ ref('fct_ai_usage') }}
    where is_billed

),

final as (

    select
        ---------- ids
        {{ cost_id("'ai_apis'", "ai_usage_id") }} as x_cost_id,
        source_system as x_source_system,
        provider as billing_account_id,
        null as sub_account_id,
        api_key_id as resource_id,
        model as sku_id,

        ---------- strings
        case provider
            when 'anthropic' then 'Anthropic'
            when 'openai' then 'OpenAI'
            else initcap(provider)
        end as provider_name,
        case provider
            when 'anthropic' then 'Anthropic organization'
            when 'openai' then 'OpenAI organization'
            else initcap(provider) || ' account'
        end as billing_account_name,
        null as billing_account_type,
        'USD' as billing_currency,
        null as sub_account_name,
        null as sub_account_type,
        null as invoice_id,
        case provider
            when 'anthropic' then 'Anthropic'
            when 'openai' then 'OpenAI'
            else initcap(provider)
        end as invoice_issuer_name,
        case provider
            when 'anthropic' then 'Anthropic'
            when 'openai' then 'OpenAI'
            else initcap(provider)
        end as publisher_name,
        'Usage' as charge_category,
        null as charge_class,
        model || ' ' || replace(token_type, '_', ' ')
        || case when is_batch then ' (batch)' else '' end as charge_description,
        'Usage-Based' as charge_frequency,
        'AI and Machine Learning' as service_category,
        'Generative AI' as service_subcategory,
        case provider
            when 'anthropic' then 'Claude API'
            when 'openai' then 'OpenAI API'
            else initcap(provider) || ' API'
        end as service_name,
        case when token_type = 'all' then null else 'tokens' end as pricing_unit,
        case when token_type = 'all' then null else 'tokens' end as consumed_unit,
        'Standard' as pricing_category,
        token_type as sku_meter,
        null as sku_price_id,
        null as resource_name,
        'API key' as resource_type,
        null as region_id,
        null as region_name,
        null as availability_zone,
        null as commitment_discount_id,
        null as commitment_discount_name,
        null as commitment_discount_type,
        null as commitment_discount_category,
        null as commitment_discount_status,
        nullif(department, 'unallocated') as x_department,
        nullif(team, 'unallocated') as x_team,
        nullif(user_email, 'unallocated') as x_user_email,
        nullif(project, 'unallocated') as x_project,
        null as x_customer,
        null as x_feature,
        null as x_cost_category,
        null as x_environment,

        ---------- numerics
        cost_usd as billed_cost,
        cost_usd as effective_cost,
        computed_cost_usd as list_cost,
        cost_usd as contracted_cost,
        case
            when tokens > 0 then computed_cost_usd / tokens
        end as list_unit_price,
        case
            when tokens > 0 then cost_usd / tokens
        end as contracted_unit_price,
        case when token_type = 'all' then null else tokens end as pricing_quantity,
        case when token_type = 'all' then null else tokens end as consumed_quantity,

        ---------- jsonb
        jsonb_strip_nulls(jsonb_build_object(
            'x_model', model,
            'x_token_type', token_type,
            'x_task_class', nullif(task_class, 'unclassified'),
            'x_cost_origin', cost_origin
        )) as tags,

        ---------- booleans
        cost_origin != 'reported' as x_estimated,

        ---------- timestamps
        {{ utc_month_start('usage_started_at') }} as billing_period_start,
        {{ utc_month_start('usage_started_at') }} + interval '1 month' as billing_period_end,
        usage_started_at as charge_period_start,
        usage_started_at + interval '1 day' as charge_period_end

    from ai_usage

)

select * from final
