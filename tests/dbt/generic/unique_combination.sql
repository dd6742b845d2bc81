{#
    The combination of `columns` is unique across the model's rows (a composite grain key).
    Usage:
        data_tests:
          - unique_combination:
              arguments:
                columns: [report_date, channel]
#}
{% test unique_combination(model, columns) %}

with

grain_counts as (

    select
        {{ columns | join(', ') }},
        count(*) as row_count
    from {{ model }}
    group by {{ columns | join(', ') }}

)

select *
from grain_counts
where row_count > 1

{% endtest %}
