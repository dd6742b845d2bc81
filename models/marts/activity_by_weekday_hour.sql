-- depends_on: {{ ref('int_run_report_days') }}
{#
    Incremental (decision O9): the (report_date, channel) rows (24 hours each) of changed
    conversations and handover requests are recomputed; new dates and channels are added.
#}
{{ config(replace_where="{{ chat_analytics.dense_replace_where() }}") }}

{%- set incremental = chat_analytics.incremental_run() %}

with

days_of_week as (

    -- ISO day numbers and their names (seeds/days_of_week.csv)
    select day_of_week, day_name_en from {{ ref('days_of_week') }}

),

report_dates as (

    select report_date from {{ ref('int_reporting_dates') }}

),

channels as (

    select channel from {{ ref('int_reporting_channels') }}

),
{%- if incremental %}

days_to_build as (

    {{ chat_analytics.dense_days_to_build() }}

),
{%- endif %}

conversations as (

    select
        conversation_id,
        channel,
        report_date,
        start_hour_of_day,
        is_engaged
    from {{ ref('int_conversations') }}
    {%- if incremental %}
    where report_date in (select report_date from days_to_build)
    {%- endif %}

),

handover_requests as (

    select
        handover_id,
        channel,
        requested_date,
        requested_hour_of_day
    from {{ ref('int_handover_requests') }}
    {%- if incremental %}
    where requested_date in (select report_date from days_to_build)
    {%- endif %}

),

hours as (

    {% for hour in range(24) -%}
    select {{ hour }} as hour_of_day
    {% if not loop.last %}union all
    {% endif %}
    {%- endfor %}

),

spine as (

    select
        report_dates.report_date,
        hours.hour_of_day,
        channels.channel
    from report_dates
    cross join hours
    cross join channels
    {%- if incremental %}
    where (report_dates.report_date, channels.channel) in (select report_date, channel from days_to_build)
    {%- endif %}

),

engaged_by_hour as (

    select
        report_date,
        start_hour_of_day as hour_of_day,
        channel,
        count(*) as engaged_conversations
    from conversations
    where is_engaged
    group by report_date, start_hour_of_day, channel

),

requests_by_hour as (

    select
        requested_date as report_date,
        requested_hour_of_day as hour_of_day,
        channel,
        count(*) as handover_requests
    from handover_requests
    group by requested_date, requested_hour_of_day, channel

),

final as (

    select
        spine.report_date,
        cast(spine.hour_of_day as {{ dbt.type_int() }}) as hour_of_day,
        spine.channel,
        {{ iso_day_of_week('spine.report_date') }} as day_of_week,
        cast(days_of_week.day_name_en as {{ dbt.type_string() }}) as day_name,
        cast(coalesce(engaged_by_hour.engaged_conversations, 0) as {{ dbt.type_bigint() }}) as engaged_conversations,
        cast(coalesce(requests_by_hour.handover_requests, 0) as {{ dbt.type_bigint() }}) as handover_requests
    from spine
    left join engaged_by_hour
        on spine.report_date = engaged_by_hour.report_date
        and spine.hour_of_day = engaged_by_hour.hour_of_day
        and spine.channel = engaged_by_hour.channel
    left join requests_by_hour
        on spine.report_date = requests_by_hour.report_date
        and spine.hour_of_day = requests_by_hour.hour_of_day
        and spine.channel = requests_by_hour.channel
    -- a left join: a day missing from the seed would show as a null day_name (a failing test), not a lost row
    left join days_of_week
        on days_of_week.day_of_week = {{ iso_day_of_week('spine.report_date') }}

)

select
    report_date,
    hour_of_day,
    channel,
    day_of_week,
    day_name,
    engaged_conversations,
    handover_requests
from final
