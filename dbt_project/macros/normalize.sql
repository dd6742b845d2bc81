{# The channel as compared everywhere (SPEC §1): trimmed and lower-cased. #}
{% macro normalized_channel(column_name) -%}
    lower(trim({{ column_name }}))
{%- endmacro %}
