{#
    Engine-specific date and time SQL, behind adapter.dispatch so that another warehouse
    only needs its own `<adapter>__` implementation. Instants are UTC `timestamptz`.
#}

{# The local wall-clock timestamp of an instant in the reporting time zone (DST-correct). #}
{% macro to_local_timestamp(instant) -%}
    {{ return(adapter.dispatch('to_local_timestamp', 'chat_analytics')(instant)) }}
{%- endmacro %}

{% macro default__to_local_timestamp(instant) -%}
    cast(({{ instant }}) at time zone {{ chat_analytics.quoted_literal(chat_analytics.reporting_timezone()) }} as timestamp)
{%- endmacro %}

{% macro duckdb__to_local_timestamp(instant) -%}
    timezone({{ chat_analytics.quoted_literal(chat_analytics.reporting_timezone()) }}, {{ instant }})
{%- endmacro %}


{# Seconds (double, microsecond fractions) from one instant to another. #}
{% macro seconds_between(start_instant, end_instant) -%}
    {{ return(adapter.dispatch('seconds_between', 'chat_analytics')(start_instant, end_instant)) }}
{%- endmacro %}

{% macro default__seconds_between(start_instant, end_instant) -%}
    cast({{ dbt.datediff(start_instant, end_instant, 'millisecond') }} as {{ chat_analytics.type_double() }}) / 1000.0
{%- endmacro %}

{% macro duckdb__seconds_between(start_instant, end_instant) -%}
    (cast(epoch_us({{ end_instant }}) - epoch_us({{ start_instant }}) as double) / 1e6)
{%- endmacro %}


{# ISO day of week of a date: 1 = Monday ... 7 = Sunday, as integer. #}
{% macro iso_day_of_week(date_expr) -%}
    {{ return(adapter.dispatch('iso_day_of_week', 'chat_analytics')(date_expr)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(date_expr) -%}
    cast(extract(isodow from {{ date_expr }}) as {{ dbt.type_int() }})
{%- endmacro %}

{% macro duckdb__iso_day_of_week(date_expr) -%}
    cast(isodow({{ date_expr }}) as {{ dbt.type_int() }})
{%- endmacro %}


{# Hour (0-23) of a local timestamp, as integer. #}
{% macro hour_of(timestamp_expr) -%}
    cast(extract(hour from {{ timestamp_expr }}) as {{ dbt.type_int() }})
{%- endmacro %}


{# An 8-byte floating point type (dbt.type_float() is a 4-byte FLOAT on DuckDB). #}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'chat_analytics')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro duckdb__type_double() -%}
    double
{%- endmacro %}
