{# The channel as compared everywhere (SPEC §1): trimmed of any white space and lower-cased. #}
{% macro normalized_channel(column_name) -%}
    lower({{ chat_analytics.trim_whitespace(column_name) }})
{%- endmacro %}
