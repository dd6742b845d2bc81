{#
    SQL whose spelling differs between engines, behind adapter.dispatch: `default__` is the SQL the
    models always had (DuckDB renders exactly it), `spark__` is Apache Spark's (macros/spark.sql).
#}

{# Instant + interval (dbt.dateadd keeps sub-second precision on DuckDB; dbt-spark's cuts it to seconds). #}
{% macro add_interval(datepart, interval, from_date_or_timestamp) -%}
    {{ return(adapter.dispatch('add_interval', 'chat_analytics')(datepart, interval, from_date_or_timestamp)) }}
{%- endmacro %}

{% macro default__add_interval(datepart, interval, from_date_or_timestamp) -%}
    {{ dbt.dateadd(datepart, interval, from_date_or_timestamp) }}
{%- endmacro %}

{# An instant shifted by a whole number of days (`days` may be negative), for range pruning. #}
{% macro add_days(instant, days) -%}
    {{ return(adapter.dispatch('add_days', 'chat_analytics')(instant, days)) }}
{%- endmacro %}

{% macro default__add_days(instant, days) -%}
    {{ instant }} {{ '-' if days < 0 else '+' }} interval {{ days | abs }} day
{%- endmacro %}

{# The last non-null value of `expression` in the window that follows the call (`... over w`). #}
{% macro last_value_ignore_nulls(expression) -%}
    {{ return(adapter.dispatch('last_value_ignore_nulls', 'chat_analytics')(expression)) }}
{%- endmacro %}

{% macro default__last_value_ignore_nulls(expression) -%}
    last_value({{ expression }} ignore nulls)
{%- endmacro %}

{# An aggregate: `value` on the row of the greatest non-null `ordering` (null when there is none). #}
{% macro value_at_max(value, ordering) -%}
    {{ return(adapter.dispatch('value_at_max', 'chat_analytics')(value, ordering)) }}
{%- endmacro %}

{% macro default__value_at_max(value, ordering) -%}
    arg_max({{ value }}, {{ ordering }})
{%- endmacro %}

{# The first non-null value of `expression` in the window that follows the call. #}
{% macro first_value_ignore_nulls(expression) -%}
    {{ return(adapter.dispatch('first_value_ignore_nulls', 'chat_analytics')(expression)) }}
{%- endmacro %}

{% macro default__first_value_ignore_nulls(expression) -%}
    first_value({{ expression }} ignore nulls)
{%- endmacro %}

{# One row per value of the listed columns (a select-list item). #}
{% macro unnest_values(columns) -%}
    {{ return(adapter.dispatch('unnest_values', 'chat_analytics')(columns)) }}
{%- endmacro %}

{% macro default__unnest_values(columns) -%}
    unnest([{{ columns | join(', ') }}])
{%- endmacro %}

{#
    The order a model's rows are written in, for DuckDB's zone maps (incremental runs read recent
    rows through them). Engines without zone maps over a sorted table skip the sort.
#}
{% macro order_for_pruning(columns) -%}
    {{ return(adapter.dispatch('order_for_pruning', 'chat_analytics')(columns)) }}
{%- endmacro %}

{% macro default__order_for_pruning(columns) -%}
    order by {{ columns }}
{%- endmacro %}
