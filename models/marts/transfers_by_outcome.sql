-- depends_on: {{ ref('int_run_report_days') }}
{#
    Incremental (decision O9): the (report_date, channel) rows of changed handover requests are
    recomputed; new dates and channels of the spine are added.
#}
{{ config(replace_where="{{ chat_analytics.dense_replace_where(conversations=false) }}") }}

{%- set incremental = chat_analytics.incremental_run() %}

with

outcomes as (

    -- the closed set of outcomes and their display order (seeds/outcomes.csv)
    select outcome, outcome_order from {{ ref('outcomes') }}

),

report_dates as (

    select report_date from {{ ref('int_reporting_dates') }}

),

channels as (

    select channel from {{ ref('int_reporting_channels') }}

),
{%- if incremental %}

days_to_build as (

    {{ chat_analytics.dense_days_to_build(conversations=false) }}

),
{%- endif %}

handover_requests as (

    select
        handover_id,
        channel,
        outcome,
        requested_date
    from {{ ref('int_handover_requests') }}
    {%- if incremental %}
    where requested_date in (select report_date from days_to_build)
    {%- endif %}

),

spine as (

    select
        report_dates.report_date,
        channels.channel,
        outcomes.outcome,
        outcomes.outcome_order
    from report_dates
    cross join channels
    cross join outcomes
    {%- if incremental %}
    where (report_dates.report_date, channels.channel) in (select report_date, channel from days_to_build)
    {%- endif %}

),

request_counts as (

    select
        requested_date as report_date,
        channel,
        outcome,
        count(*) as handover_requests
    from handover_requests
    group by requested_date, channel, outcome

),

final as (

    select
        spine.report_date,
        spine.channel,
        cast(spine.outcome as {{ dbt.type_string() }}) as outcome,
        cast(spine.outcome_order as {{ dbt.type_int() }}) as outcome_order,
        cast(coalesce(request_counts.handover_requests, 0) as {{ dbt.type_bigint() }}) as handover_requests
    from spine
    left join request_counts
        on spine.report_date = request_counts.report_date
        and spine.channel = request_counts.channel
        and spine.outcome = request_counts.outcome

)

select
    report_date,
    channel,
    outcome,
    outcome_order,
    handover_requests
from final
