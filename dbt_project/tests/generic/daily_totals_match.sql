{#-
    Reconciliation: per UTC day, the total of `amount_column` over the model's rows that
    pass `where` equals the total of `compare_amount` over `compare_to`'s rows that pass
    `compare_where`, to the cent. Days are `time_column` and `compare_time` truncated to
    the UTC day, within the run window. A failing row names the day and both totals, so a
    gap reads as "lost", "counted twice" or "changed on the way" at a glance.

    Both `where` arguments are SQL over the respective relation's columns; they default
    to true.
-#}
{% test daily_totals_match(
    model,
    time_column,
    amount_column,
    compare_to,
    compare_time,
    compare_amount,
    where='true',
    compare_where='true'
) %}

with

model_totals as (

    select
        date_trunc('day', {{ time_column }} at time zone 'UTC') as usage_day,
        sum({{ amount_column }}) as total
    from {{ model }}
    where ({{ where }}) and {{ in_run_window(time_column) }}
    group by 1

),

compare_totals as (

    select
        date_trunc('day', {{ compare_time }} at time zone 'UTC') as usage_day,
        sum({{ compare_amount }}) as total
    from {{ compare_to }}
    where ({{ compare_where }}) and {{ in_run_window(compare_time) }}
    group by 1

),

final as (

    select
        coalesce(model_totals.usage_day, compare_totals.usage_day) as usage_day,
        model_totals.total as model_total,
        compare_totals.total as compare_total
    from model_totals
    full outer join compare_totals
        on model_totals.usage_day = compare_totals.usage_day
    where
        abs(coalesce(model_totals.total, 0) - coalesce(compare_totals.total, 0)) >= 0.005

)

select * from final

{% endtest %}
