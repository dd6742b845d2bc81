{#
    The metric settings of the pipeline, read from project vars (themselves read from the
    environment in dbt_project.yml). Python validates them before dbt is called; these
    macros check them again so that a bad value fails compilation with a clear message
    instead of being pasted into SQL.
#}

{% macro reporting_timezone() -%}
    {%- set value = var('reporting_timezone', 'UTC') | string | trim -%}
    {%- if not modules.re.match('^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$', value) -%}
        {{ exceptions.raise_compiler_error(
            "reporting_timezone must be an IANA time zone name such as 'UTC' or 'America/Toronto', got '"
            ~ value ~ "'. Set CHAT_ANALYTICS_TIMEZONE to a valid name."
        ) }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}

{% macro inactivity_minutes() -%}
    {%- set value = var('conversation_inactivity_minutes', 10) | string | trim -%}
    {%- if not modules.re.match('^[0-9]{1,6}$', value) or (value | int) < 1 -%}
        {{ exceptions.raise_compiler_error(
            "conversation_inactivity_minutes must be a positive whole number of minutes, got '"
            ~ value ~ "'. Set CHAT_ANALYTICS_INACTIVITY_MINUTES to e.g. 10."
        ) }}
    {%- endif -%}
    {{ return(value | int) }}
{%- endmacro %}

{#
    Rule 4's silence (SPEC §3): a positive number of hours, longer than the inactivity, a whole
    number of seconds. Returned in seconds, the unit the SQL compares with.
#}
{% macro handover_timeout_seconds() -%}
    {%- set value = var('handover_timeout_hours', 24) | string | trim -%}
    {%- set valid = modules.re.match('^[0-9]{1,6}([.][0-9]{1,6})?$', value) -%}
    {%- set seconds = ((value | float) * 3600) | round(6) if valid else 0 -%}
    {%- if not valid or seconds <= chat_analytics.inactivity_minutes() * 60
        or seconds != (seconds | round) or seconds > 8784 * 3600 -%}
        {{ exceptions.raise_compiler_error(
            "handover_timeout_hours must be a number of hours longer than the inactivity and at most 8784, "
            ~ "a whole number of seconds, got '" ~ value ~ "'. Set CHAT_ANALYTICS_HANDOVER_TIMEOUT_HOURS to e.g. 24."
        ) }}
    {%- endif -%}
    {{ return(seconds | round | int) }}
{%- endmacro %}

{# A value as a SQL string literal, single quotes escaped: never raw-pasted. #}
{% macro quoted_literal(value) -%}
    {{- dbt.string_literal(dbt.escape_single_quotes(value | string)) -}}
{%- endmacro %}
