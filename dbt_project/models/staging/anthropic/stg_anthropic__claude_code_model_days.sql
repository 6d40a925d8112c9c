with

anthropic_claude_code_usage as (

    select * from {{ source('anthropic', 'anthropic_claude_code_usage') }}

),

latest_loads as (

    select distinct on (natural_key)
        natural_key,
        partition_key,
        run_id,
        loaded_at,
        record
    from anthropic_claude_code_usage
    where {{ in_run_partitions() }}
    order by natural_key asc, loaded_at desc, load_seq desc

),

model_entries as (

    select
        latest_loads.natural_key,
        latest_loads.partition_key,
        latest_loads.run_id,
        latest_loads.loaded_at,
        latest_loads.record,
        breakdown.model_entry,
        breakdown.entry_number
    from latest_loads
    -- A record without a model_breakdown list has no tokens to report, and no rows here.
    cross join
        lateral jsonb_array_elements(
            case
                when jsonb_typeof(latest_loads.record -> 'model_breakdown') = 'array'
                    then latest_loads.record -> 'model_breakdown'
                else '[]'::jsonb
            end
        ) with ordinality as breakdown (model_entry, entry_number)

),

renamed as (

    select
        ---------- ids
        -- A record lists each model once; an entry without a readable model is told
        -- apart by its position in the list.
        natural_key || '|' || coalesce(
            {{ json_text("model_entry -> 'model'") }}, '#' || entry_number::text
        ) as claude_code_model_day_id,
        natural_key as claude_code_user_day_id,

        ---------- strings
        {{ json_text("model_entry -> 'model'") }} as model,
        upper({{ json_text("model_entry -> 'estimated_cost' -> 'currency'") }}) as currency,
        partition_key,
        run_id,

        ---------- numerics
        -- The report's input count leaves out cache reads and writes, as the API's does.
        {{ json_count("model_entry -> 'tokens' -> 'input'") }} as input_uncached_tokens,
        {{ json_count("model_entry -> 'tokens' -> 'cache_read'") }} as cache_read_tokens,
        -- Cache writes of both lifetimes (5 minutes, 1 hour) in one count.
        {{ json_count("model_entry -> 'tokens' -> 'cache_creation'") }} as cache_write_tokens,
        {{ json_count("model_entry -> 'tokens' -> 'output'") }} as output_tokens,
        -- The estimate is in cents (minor units): 1025 is $10.25.
        {{ safe_numeric("model_entry -> 'estimated_cost' -> 'amount'") }}
            as estimated_cost_cents,
        trim_scale({{ safe_numeric("model_entry -> 'estimated_cost' -> 'amount'") }} / 100)
            as estimated_cost_usd,

        ---------- dates
        (
            coalesce(
                {{ safe_timestamptz("record ->> 'date'") }},
                {{ safe_timestamptz('partition_key') }}
            ) at time zone 'UTC'
        )::date as activity_date,
        loaded_at

    from model_entries

)

select * from renamed
