{# A string column with empty or whitespace-only values read as null (decision M1); other values kept as sent. #}
{% macro blank_to_null(column_name) -%}
    case when {{ chat_analytics.trim_whitespace(column_name) }} = '' then null else {{ column_name }} end
{%- endmacro %}
