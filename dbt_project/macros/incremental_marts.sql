{#
    What the marts recompute in an incremental run (decision O9). Everything is read "since the
    watermark": the rows an upstream model wrote with `_processed_load_seq` above it, and the rows
    it deleted (its removal log) since then. A run that failed after an upstream model committed
    is redone whole by the next run, which still sees those rows.
#}

{#
    The `columns` of the rows of upstream model `model_name` deleted or written since the watermark.
    (The model is an ancestor of the caller, found in the graph: `ref` would add DAG edges that the
    full path does not need.)
#}
{% macro changed_since_watermark(model_name, columns) -%}
    {%- set relation = chat_analytics.model_relation(model_name) -%}
    {%- set watermark = chat_analytics.load_window()['previous_load_seq'] -%}
    (
        select {{ columns }}
        from {{ chat_analytics.removal_log_relation(relation) }}
        where _processed_load_seq > {{ watermark }}
        union all
        select {{ columns }}
        from {{ relation }}
        where _processed_load_seq > {{ watermark }}
    )
{%- endmacro %}


{# (report_date, channel) pairs whose numbers may have changed, from the plan model int_run_report_days. #}
{% macro affected_report_days(conversations=true, handovers=true) -%}
    {%- set sources = [] -%}
    {%- if conversations %}{% do sources.append("'conversations'") %}{% endif -%}
    {%- if handovers %}{% do sources.append("'handovers'") %}{% endif -%}
    select distinct report_date, channel
    from {{ ref('int_run_report_days') }}
    where changed_by in ({{ sources | join(', ') }})
{%- endmacro %}


{#
    Dense marts: the affected pairs, plus the pairs of the spine (dates x channels) the mart lacks
    (new dates or channels). Used by the model (rows to compute) and its replace_where (rows to delete,
    with the rows outside the spine).
#}
{% macro dense_days_to_build(conversations=true, handovers=true) -%}
    select report_date, channel
    from ({{ chat_analytics.affected_report_days(conversations, handovers) }})
    union
    (
        select report_dates.report_date, channels.channel
        from {{ ref('int_reporting_dates') }} as report_dates
        cross join {{ ref('int_reporting_channels') }} as channels
        except
        select report_date, channel
        from {{ this }}
    )
{%- endmacro %}

{% macro dense_replace_where(conversations=true, handovers=true) -%}
    (target_rows.report_date, target_rows.channel) in (
        {{ chat_analytics.affected_report_days(conversations, handovers) }}
    )
    or target_rows.report_date not in (select report_date from {{ ref('int_reporting_dates') }})
    or target_rows.channel not in (select channel from {{ ref('int_reporting_channels') }})
{%- endmacro %}


{# Sum of durations in seconds, exact: microseconds are added as integers (same result in any order). #}
{% macro exact_seconds_sum(expression) -%}
    cast(sum(cast(round(({{ expression }}) * 1000000) as {{ dbt.type_bigint() }})) as {{ chat_analytics.type_double() }}) / 1000000.0
{%- endmacro %}
