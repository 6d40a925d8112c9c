{{
    config(
        materialized='incremental',
        incremental_strategy='window_replace',
        window_column='usage_started_at',
        on_schema_change='fail',
        pre_hook="{{ set_run_partition_floor() }}",
        indexes=[
            {'columns': ['ai_usage_id'], 'unique': true},
            {'columns': ['usage_started_at']},
        ],
    )
}}

{#-
    AI usage per day, provider, model, person or API key, project, task class and token
    type, with one cost per row and where that cost comes from.

    Every token row of fct_metrics is priced at the list price in force on its day
    (dim_model_prices: the longest matching pattern, its rate for that token type, the
    batch multiplier for batch traffic). Where the source also reports money for the same
    scope (day, source system, project), the reported money wins: it is spread over the
    scope's rows in proportion to their computed cost, so each row keeps its share and the
    scope adds up to exactly what was reported. A scope with reported money but no priced
    tokens keeps it on one row of token_type 'all'. Rows of token_type 'all' also carry the
    request counts, which belong to no token type.
-#}

with

fct_metrics as (

    select * from {{ ref('fct_metrics') }}
    {%- if is_incremental() %}
        where {{ in_run_window('observed_at') }}
    {%- endif %}

),

dim_model_prices as (

    select * from {{ ref('dim_model_prices') }}

),

int_claude_code_sessions_classified as (

    select * from {{ ref('int_claude_code_sessions_classified') }}

),

ai_rows as (

    select
        metrics.metric_id,
        metrics.source_system,
        metrics.metric_type,
        metrics.value,
        metrics.tags,
        metrics.department,
        metrics.team,
        metrics.user_email,
        metrics.project,
        metrics.observed_at,
        coalesce(metrics.tags ->> 'model', 'unknown') as model,
        coalesce(
            metrics.tags ->> 'provider',
            case
                when metrics.source_system = 'openai' then 'openai'
                when metrics.source_system like 'claude_code%' then 'anthropic'
                when metrics.source_system = 'anthropic' then 'anthropic'
                when metrics.tags ->> 'model' like 'claude-%' then 'anthropic'
                when metrics.tags ->> 'model' like 'gpt-%' then 'openai'
                else 'unknown'
            end
        ) as provider,
        coalesce(metrics.tags ->> 'api_key_id', 'unallocated') as api_key_id,
        coalesce(
            metrics.tags ->> 'batch' = 'true' or metrics.tags ->> 'service_tier' = 'batch',
            false
        ) as is_batch,
        date_trunc('day', metrics.observed_at at time zone 'UTC') at time zone 'UTC'
            as usage_started_at
    from fct_metrics as metrics
    where
        metrics.metric_type like 'ai.tokens.%'
        or metrics.metric_type = 'ai.requests'
        or metrics.metric_type = 'ai.cost'
        -- A vendor's own estimate (Claude Code analytics) counts as reported money;
        -- estimates computed here from tokens are recomputed below instead.
        or (
            metrics.metric_type = 'ai.cost_estimated'
            and metrics.tags ->> 'cost_origin' = 'vendor_estimate'
        )

),

token_rows as (

    select
        *,
        replace(metric_type, 'ai.tokens.', '') as token_type
    from ai_rows
    where metric_type like 'ai.tokens.%'

),

matched_prices as (

    {{ match_model_prices(
        observations='token_rows',
        key_column='metric_id',
        model_column='model',
        observed_at_column='observed_at',
        prices='dim_model_prices',
        provider='provider',
        provider_is_column=true,
    ) }}

),

priced_tokens as (

    select
        token_rows.metric_id,
        token_rows.usage_started_at,
        token_rows.provider,
        token_rows.source_system,
        token_rows.model,
        token_rows.user_email,
        token_rows.api_key_id,
        token_rows.project,
        token_rows.department,
        token_rows.team,
        token_rows.tags ->> 'session_id' as session_id,
        token_rows.token_type,
        token_rows.is_batch,
        matched_prices.price_id,
        token_rows.value as tokens,
        0 as requests,
        token_rows.value
        * case token_rows.token_type
            when 'input_uncached' then matched_prices.input_per_mtok
            when 'cache_read' then matched_prices.cache_read_per_mtok
            when 'cache_write_5m' then matched_prices.cache_write_5m_per_mtok
            when 'cache_write_1h' then matched_prices.cache_write_1h_per_mtok
            when 'output' then matched_prices.output_per_mtok
        end
        * case when token_rows.is_batch then matched_prices.batch_multiplier else 1 end
        / 1000000 as computed_cost_usd,
        null::numeric as source_cost_usd,
        null::text as source_cost_origin
    from token_rows
    left join matched_prices
        on token_rows.metric_id = matched_prices.metric_id

),

other_rows as (

    select
        ai_rows.metric_id,
        ai_rows.usage_started_at,
        ai_rows.provider,
        ai_rows.source_system,
        ai_rows.model,
        ai_rows.user_email,
        ai_rows.api_key_id,
        ai_rows.project,
        ai_rows.department,
        ai_rows.team,
        ai_rows.tags ->> 'session_id' as session_id,
        'all' as token_type,
        ai_rows.is_batch,
        null::text as price_id,
        0 as tokens,
        case when ai_rows.metric_type = 'ai.requests' then ai_rows.value else 0 end
            as requests,
        null::numeric as computed_cost_usd,
        case when ai_rows.metric_type like 'ai.cost%' then ai_rows.value end
            as source_cost_usd,
        case
            when ai_rows.metric_type = 'ai.cost' then 'reported'
            when ai_rows.metric_type = 'ai.cost_estimated' then 'vendor_estimate'
        end as source_cost_origin
    from ai_rows
    where ai_rows.metric_type not like 'ai.tokens.%'

),

all_rows as (

    select * from priced_tokens
    union all
    select * from other_rows

),

scopes as (

    -- The money a source reported for a day and project, beside what its tokens cost at
    -- list price. Either may be absent.
    select
        usage_started_at,
        source_system,
        project,
        sum(source_cost_usd) as source_cost_usd,
        max(source_cost_origin) as source_cost_origin,
        sum(coalesce(computed_cost_usd, 0)) as computed_cost_usd
    from all_rows
    group by usage_started_at, source_system, project

),

costed as (

    select
        all_rows.*,
        scopes.source_cost_origin as scope_cost_origin,
        case
            when scopes.source_cost_usd is null then coalesce(all_rows.computed_cost_usd, 0)
            when scopes.computed_cost_usd > 0
                then
                    scopes.source_cost_usd
                    * coalesce(all_rows.computed_cost_usd, 0)
                    / scopes.computed_cost_usd
            -- Reported money with nothing priced to spread it over: it stays on the
            -- scope's rows that carried it.
            else coalesce(all_rows.source_cost_usd, 0)
        end as cost_usd
    from all_rows
    inner join scopes
        on
            all_rows.usage_started_at = scopes.usage_started_at
            and all_rows.source_system = scopes.source_system
            and all_rows.project = scopes.project

),

classified as (

    select
        costed.*,
        coalesce(sessions.task_class, 'unclassified') as task_class
    from costed
    left join int_claude_code_sessions_classified as sessions
        on costed.session_id = sessions.session_id

),

final as (

    select
        ---------- ids
        md5(concat_ws(
            '|',
            usage_started_at::text,
            provider,
            source_system,
            model,
            user_email,
            api_key_id,
            department,
            team,
            project,
            task_class,
            token_type,
            is_batch::text
        )) as ai_usage_id,

        ---------- strings
        provider,
        source_system,
        model,
        user_email,
        api_key_id,
        department,
        team,
        project,
        task_class,
        token_type,
        case
            when max(scope_cost_origin) is not null then max(scope_cost_origin)
            when bool_or(price_id is null and token_type != 'all') then 'unpriced'
            else 'computed'
        end as cost_origin,
        min(price_id) as price_id,

        ---------- numerics
        sum(tokens) as tokens,
        sum(requests) as requests,
        trim_scale(sum(coalesce(computed_cost_usd, 0))) as computed_cost_usd,
        trim_scale(round(sum(cost_usd), 10)) as cost_usd,

        ---------- booleans
        is_batch,
        -- Money the vendors invoice (their reports), as against usage the vault attributes
        -- or estimates (transcripts, analytics, the company's own tracking), which the
        -- invoices already contain or which no invoice itemises.
        source_system in ('anthropic', 'openai') as is_billed,

        ---------- timestamps
        usage_started_at

    from classified
    group by
        usage_started_at,
        provider,
        source_system,
        model,
        user_email,
        api_key_id,
        department,
        team,
        project,
        task_class,
        token_type,
        is_batch
    -- A reported cost spread over a scope's tokens leaves its own row empty.
    having sum(tokens) != 0 or sum(requests) != 0 or round(sum(cost_usd), 10) != 0

)

select * from final
