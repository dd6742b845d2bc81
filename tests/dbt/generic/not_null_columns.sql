{#
    None of `columns` is null in any row (the dense marts' counts are 0, never null).
    Usage:
        data_tests:
          - not_null_columns:
              arguments:
                columns: [total_conversations, engaged_conversations]
#}
{% test not_null_columns(model, columns) %}

select *
from {{ model }}
where
    {% for column in columns -%}
    {{ column }} is null{% if not loop.last %} or {% endif %}
    {% endfor %}

{% endtest %}
