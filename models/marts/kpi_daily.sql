-- depends_on: {{ ref('int_run_report_days') }}
{#
    Incremental (decision O9): the (report_date, channel) rows whose numbers may have changed are
    recomputed from the facts of those dates; new dates and channels of the spine are added.
#}
{{ config(replace_where="{{ chat_analytics.dense_replace_where() }}") }}

{%- set incremental = chat_analytics.incremental_run() %}

with

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
        customer_id,
        channel,
        report_date,
        is_engaged,
        chatbot_duration_seconds
    from {{ ref('int_conversations') }}
    {%- if incremental %}
    where report_date in (select report_date from days_to_build)
    {%- endif %}

),

handover_requests as (

    select
        handover_id,
        channel,
        received_at,
        received_date,
        closed_at,
        closed_date,
        initial_wait_seconds,
        first_agent_reply_date
    from {{ ref('int_handover_requests') }}
    {%- if incremental %}
    where received_date in (select report_date from days_to_build)
        or closed_date in (select report_date from days_to_build)
        or first_agent_reply_date in (select report_date from days_to_build)
    {%- endif %}

),

agent_replies as (

    select
        handover_id,
        reply_date
    from {{ ref('int_handover_agent_replies') }}
    {%- if incremental %}
    where reply_date in (select report_date from days_to_build)
    {%- endif %}

),

request_channels as (

    -- the channel of the request of each reply (every handover measure uses the request's channel)
    select
        handover_id,
        channel
    from {{ ref('int_handover_requests') }}
    {%- if incremental %}
    where handover_id in (select handover_id from agent_replies)
    {%- endif %}

),

spine as (

    select
        report_dates.report_date,
        channels.channel
    from report_dates
    cross join channels
    {%- if incremental %}
    where (report_dates.report_date, channels.channel) in (select report_date, channel from days_to_build)
    {%- endif %}

),

conversation_measures as (

    select
        report_date,
        channel,
        count(*) as total_conversations,
        count(case when is_engaged then 1 end) as engaged_conversations,
        count(distinct case when is_engaged then customer_id end) as engaged_customers,
        {{ chat_analytics.exact_seconds_sum('case when is_engaged then chatbot_duration_seconds end') }}
            as chatbot_duration_seconds_sum
    from conversations
    group by report_date, channel

),

transfer_measures as (

    select
        received_date as report_date,
        channel,
        count(*) as successful_transfers
    from handover_requests
    where received_at is not null
    group by received_date, channel

),

answered_measures as (

    -- decision M6: a request counts once on each local day it got a qualifying reply
    select
        agent_replies.reply_date as report_date,
        request_channels.channel,
        count(distinct agent_replies.handover_id) as answered_conversations
    from agent_replies
    inner join request_channels
        on agent_replies.handover_id = request_channels.handover_id
    group by agent_replies.reply_date, request_channels.channel

),

closed_measures as (

    select
        closed_date as report_date,
        channel,
        count(*) as closed_conversations
    from handover_requests
    where closed_at is not null
    group by closed_date, channel

),

wait_measures as (

    select
        first_agent_reply_date as report_date,
        channel,
        {{ chat_analytics.exact_seconds_sum('initial_wait_seconds') }} as initial_wait_seconds_sum,
        count(*) as initial_wait_count
    from handover_requests
    where initial_wait_seconds is not null
    group by first_agent_reply_date, channel

),

joined as (

    select
        spine.report_date,
        spine.channel,
        coalesce(conversation_measures.total_conversations, 0) as total_conversations,
        coalesce(conversation_measures.engaged_conversations, 0) as engaged_conversations,
        coalesce(conversation_measures.engaged_customers, 0) as engaged_customers,
        coalesce(transfer_measures.successful_transfers, 0) as successful_transfers,
        coalesce(answered_measures.answered_conversations, 0) as answered_conversations,
        coalesce(closed_measures.closed_conversations, 0) as closed_conversations,
        coalesce(wait_measures.initial_wait_seconds_sum, 0) as initial_wait_seconds_sum,
        coalesce(wait_measures.initial_wait_count, 0) as initial_wait_count,
        coalesce(conversation_measures.chatbot_duration_seconds_sum, 0) as chatbot_duration_seconds_sum
    from spine
    left join conversation_measures
        on spine.report_date = conversation_measures.report_date
        and spine.channel = conversation_measures.channel
    left join transfer_measures
        on spine.report_date = transfer_measures.report_date
        and spine.channel = transfer_measures.channel
    left join answered_measures
        on spine.report_date = answered_measures.report_date
        and spine.channel = answered_measures.channel
    left join closed_measures
        on spine.report_date = closed_measures.report_date
        and spine.channel = closed_measures.channel
    left join wait_measures
        on spine.report_date = wait_measures.report_date
        and spine.channel = wait_measures.channel

),

final as (

    select
        report_date,
        channel,
        cast(total_conversations as {{ dbt.type_bigint() }}) as total_conversations,
        cast(engaged_conversations as {{ dbt.type_bigint() }}) as engaged_conversations,
        cast(engaged_customers as {{ dbt.type_bigint() }}) as engaged_customers,
        cast(successful_transfers as {{ dbt.type_bigint() }}) as successful_transfers,
        cast(answered_conversations as {{ dbt.type_bigint() }}) as answered_conversations,
        cast(closed_conversations as {{ dbt.type_bigint() }}) as closed_conversations,
        cast(initial_wait_seconds_sum as {{ type_double() }}) as initial_wait_seconds_sum,
        cast(initial_wait_count as {{ dbt.type_bigint() }}) as initial_wait_count,
        cast(
            initial_wait_seconds_sum / nullif(initial_wait_count, 0) as {{ type_double() }}
        ) as avg_initial_wait_seconds,
        cast(chatbot_duration_seconds_sum as {{ type_double() }}) as chatbot_duration_seconds_sum,
        cast(
            chatbot_duration_seconds_sum / nullif(engaged_conversations, 0) as {{ type_double() }}
        ) as avg_chatbot_duration_seconds
    from joined

)

select
    report_date,
    channel,
    total_conversations,
    engaged_conversations,
    engaged_customers,
    successful_transfers,
    answered_conversations,
    closed_conversations,
    initial_wait_seconds_sum,
    initial_wait_count,
    avg_initial_wait_seconds,
    chatbot_duration_seconds_sum,
    avg_chatbot_duration_seconds
from final
