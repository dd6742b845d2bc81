{#
    A query returning one row per date from `start_date_expr` to `end_date_expr`, both
    included, in a column `date_day`. Both arguments are SQL expressions evaluated against
    `from_relation` (typically a one-row CTE holding the bounds); nulls give no rows.
#}
{% macro days_between(start_date_expr, end_date_expr, from_relation) -%}
    {{ return(adapter.dispatch('days_between', 'chat_analytics')(start_date_expr, end_date_expr, from_relation)) }}
{%- endmacro %}

{% macro default__days_between(start_date_expr, end_date_expr, from_relation) -%}
    with recursive days (date_day, last_day) as (
        select
            cast({{ start_date_expr }} as date) as date_day,
            cast({{ end_date_expr }} as date) as last_day
        from {{ from_relation }}
        where {{ start_date_expr }} is not null

        union all

        select
            cast({{ dbt.dateadd('day', 1, 'date_day') }} as date) as date_day,
            last_day
        from days
        where date_day < last_day
    )

    select date_day from days
{%- endmacro %}

{% macro duckdb__days_between(start_date_expr, end_date_expr, from_relation) -%}
    select
        cast(
            unnest(generate_series(
                cast({{ start_date_expr }} as timestamp),
                cast({{ end_date_expr }} as timestamp),
                interval 1 day
            )) as date
        ) as date_day
    from {{ from_relation }}
{%- endmacro %}
