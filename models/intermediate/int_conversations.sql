{#
    Per-conversation measures (SPEC §3): bounds, engagement, support type, chatbot duration.

    Incremental (decision O7): the conversations of the recomputed thread ranges are replaced.
    Each one's measures are read from the sessionization state after its last event (which lies
    in the range), so a conversation that started long before the range is finished without
    reading its old events; the conversation open at the range start is rewritten from the
    restart state when the change shortened it. Conversations that disappear (merged into
    another) are deleted. A full run aggregates every conversation's events.
#}
{{ config(
    replace_where="
        target_rows.conversation_id in (
            select conversation_id from __new_rows__
            union all
            select stored.conversation_id
            from {{ this }} as stored
            inner join {{ chat_analytics.plan_relation('changed_threads') }} as changed
                on stored.customer_id = changed.customer_id
                and stored.channel = changed.channel
            where stored.ended_at >= {{ chat_analytics.load_window()['min_range_start'] }}
                and stored.ended_at >= changed.range_start
        )
    ",
    removal_log_columns=['conversation_id', 'channel', 'report_date'],
) }}

{%- set incremental = chat_analytics.incremental_run() %}

with

{%- if incremental %}
{%- set window = chat_analytics.load_window() %}

changed_threads as (

    select customer_id, channel, range_start
    from {{ chat_analytics.plan_relation('changed_threads') }}

),

last_events_in_range as (

    -- every conversation with an event in a recomputed range has its last event there
    select
        events.conversation_id,
        events.customer_id,
        events.channel,
        events.occurred_at as ended_at,
        events._state_after as state
    from {{ ref('int_events_sessionized') }} as events
    inner join changed_threads
        on events.customer_id = changed_threads.customer_id
        and events.channel = changed_threads.channel
    where events.occurred_at >= {{ window['min_range_start'] }}
        and events.occurred_at >= changed_threads.range_start
        and events.conversation_id is not null
    qualify row_number() over (partition by events.conversation_id order by events.thread_position desc) = 1

),

shortened_conversations as (

    -- the conversation open at a range start, no longer continued in the range but stored as if it
    -- were: it now ends with the last event before the range
    select
        restarts.state.conversation_id as conversation_id,
        restarts.customer_id,
        restarts.channel,
        restarts.state.last_event_at as ended_at,
        restarts.state
    from {{ chat_analytics.plan_relation('thread_restarts') }} as restarts
    where restarts.state.conversation_id is not null
        and restarts.state.conversation_id not in (select conversation_id from last_events_in_range)
        and exists (
            select 1
            from {{ this }} as stored
            where stored.conversation_id = restarts.state.conversation_id
                and stored.ended_at >= {{ window['min_range_start'] }}
                and stored.ended_at >= restarts.range_start
        )

),

conversation_summaries as (

    select
        conversation_id,
        customer_id,
        channel,
        state.conversation_last_flow_type as last_flow_type,
        state.conversation_event_count as event_count,
        state.conversation_interaction_count as customer_interaction_count,
        case
            when state.conversation_first_welcome_position is null then state.conversation_engaged_after_opening
            else coalesce(
                state.conversation_last_engaging_position > state.conversation_first_welcome_position, false
            )
        end as is_engaged,
        state.conversation_first_welcome_position is not null as has_welcome,
        state.conversation_started_at as started_at,
        ended_at,
        state.conversation_first_received_at as first_received_at
    from (
        select * from last_events_in_range
        union all
        select * from shortened_conversations
    )

),

{%- else %}

conversation_events as (

    select
        event_id,
        conversation_id,
        customer_id,
        channel,
        event_type,
        sender,
        message_type,
        flow_type,
        thread_position,
        is_customer_interaction,
        occurred_at
    from {{ ref('int_events_sessionized') }}
    where conversation_id is not null

),

conversation_bounds as (

    select
        conversation_id,
        customer_id,
        channel,
        min(thread_position) as opening_position,
        min(case when event_type = 'message' and message_type = 'welcome' then thread_position end)
            as first_welcome_position,
        count(*) as event_count,
        count(case when is_customer_interaction then 1 end) as customer_interaction_count,
        min(occurred_at) as started_at,
        max(occurred_at) as ended_at,
        min(case when event_type = 'handover_received' then occurred_at end) as first_received_at
    from conversation_events
    group by conversation_id, customer_id, channel

),

engaging_events as (

    -- a customer interaction, or an agent message the customer sees, after the first
    -- welcome message (or, without one, after the opening event)
    select distinct conversation_events.conversation_id
    from conversation_events
    inner join conversation_bounds
        on conversation_events.conversation_id = conversation_bounds.conversation_id
    where
        (
            conversation_events.is_customer_interaction
            or (
                conversation_events.event_type = 'message'
                and conversation_events.sender = 'agent'
                and coalesce(conversation_events.message_type, 'text') <> 'internal_note'
            )
        )
        and conversation_events.thread_position
        > coalesce(conversation_bounds.first_welcome_position, conversation_bounds.opening_position)

),

bot_flows as (

    select
        conversation_id,
        flow_type,
        row_number() over (partition by conversation_id order by thread_position desc) as recency_rank
    from conversation_events
    where
        event_type = 'message'
        and sender = 'bot'
        and flow_type is not null

),

last_bot_flow as (

    select conversation_id, flow_type
    from bot_flows
    where recency_rank = 1

),

conversation_summaries as (

    select
        conversation_bounds.conversation_id,
        conversation_bounds.customer_id,
        conversation_bounds.channel,
        last_bot_flow.flow_type as last_flow_type,
        conversation_bounds.event_count,
        conversation_bounds.customer_interaction_count,
        engaging_events.conversation_id is not null as is_engaged,
        conversation_bounds.first_welcome_position is not null as has_welcome,
        conversation_bounds.started_at,
        conversation_bounds.ended_at,
        conversation_bounds.first_received_at
    from conversation_bounds
    left join engaging_events
        on conversation_bounds.conversation_id = engaging_events.conversation_id
    left join last_bot_flow
        on conversation_bounds.conversation_id = last_bot_flow.conversation_id

),

{%- endif %}

final as (

    select
        -- ids
        conversation_id,
        customer_id,

        -- strings
        channel,
        coalesce(last_flow_type, 'other') as support_type,

        -- numerics
        cast(event_count as {{ dbt.type_bigint() }}) as event_count,
        cast(customer_interaction_count as {{ dbt.type_bigint() }}) as customer_interaction_count,
        {{ seconds_between('started_at', 'coalesce(first_received_at, ended_at)') }} as chatbot_duration_seconds,
        {{ hour_of(to_local_timestamp('started_at')) }} as start_hour_of_day,

        -- booleans
        is_engaged,
        has_welcome,
        first_received_at is not null as has_reception,

        -- timestamps and dates
        started_at,
        ended_at,
        first_received_at,
        {{ to_local_timestamp('started_at') }} as started_local_at,
        cast({{ to_local_timestamp('started_at') }} as date) as report_date,

        -- lineage
        {{ chat_analytics.processed_load_seq() }} as _processed_load_seq

    from conversation_summaries

)

select * from final
order by started_at, conversation_id
