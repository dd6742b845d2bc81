{#
    Per-conversation measures (docs/metrics.md): bounds, engagement, support type, chatbot duration.

    One code path (decision O7): a conversation never spans a silence longer than the handover
    timeout, so every conversation of a recomputed thread range lies wholly in it. An incremental run
    aggregates the sessionized events of int_run_threads' ranges and replaces the conversations of
    those ranges; a full run aggregates every event.
#}
{{ config(
    replace_where="{{ chat_analytics.in_recomputed_range('target_rows', 'started_at') }}",
    removal_log_columns=['conversation_id', 'channel', 'report_date'],
) }}

with

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
        stretch_position,
        is_customer_interaction,
        occurred_at
    from {{ ref('int_events_sessionized') }} as sessionized
    where
        conversation_id is not null
        and {{ chat_analytics.in_recomputed_range('sessionized') }}

),

conversation_summaries as (

    select
        conversation_id,
        customer_id,
        channel,
        count(*) as event_count,
        count(case when is_customer_interaction then 1 end) as customer_interaction_count,
        min(occurred_at) as started_at,
        max(occurred_at) as ended_at,
        min(case when event_type = 'handover_received' then occurred_at end) as first_received_at,
        -- the opening event is position 1; engagement needs an engaging event after the first
        -- welcome, or after the opening event without one (decision M10)
        min(case when {{ chat_analytics.is_welcome_message() }} then stretch_position end) as first_welcome_position,
        max(case when {{ chat_analytics.is_engaging_event() }} then stretch_position end) as last_engaging_position,
        -- the flow of the last bot flow message (positions are unique in a conversation; rows of
        -- other events have no position here and are ignored); in the aggregate, not joined back: a
        -- join read the events twice (2.6 s -> 1.3 s at 10M events)
        {{ chat_analytics.value_at_max(
            'flow_type',
            'case when ' ~ chat_analytics.is_bot_flow_message() ~ ' then stretch_position end'
        ) }} as last_flow_type
    from conversation_events
    group by conversation_id, customer_id, channel

),

final as (

    select
        -- ids
        conversation_summaries.conversation_id,
        conversation_summaries.customer_id,

        -- strings
        conversation_summaries.channel,
        coalesce(conversation_summaries.last_flow_type, 'other') as support_type,

        -- numerics
        cast(conversation_summaries.event_count as {{ dbt.type_bigint() }}) as event_count,
        cast(conversation_summaries.customer_interaction_count as {{ dbt.type_bigint() }}) as customer_interaction_count,
        {{ seconds_between(
            'conversation_summaries.started_at',
            'coalesce(conversation_summaries.first_received_at, conversation_summaries.ended_at)'
        ) }} as chatbot_duration_seconds,
        {{ hour_of(to_local_timestamp('conversation_summaries.started_at')) }} as start_hour_of_day,

        -- booleans
        coalesce(
            conversation_summaries.last_engaging_position
            > coalesce(conversation_summaries.first_welcome_position, 1),
            false
        ) as is_engaged,
        conversation_summaries.first_welcome_position is not null as has_welcome,
        conversation_summaries.first_received_at is not null as has_reception,

        -- timestamps and dates
        conversation_summaries.started_at,
        conversation_summaries.ended_at,
        conversation_summaries.first_received_at,
        {{ to_local_timestamp('conversation_summaries.started_at') }} as started_local_at,
        cast({{ to_local_timestamp('conversation_summaries.started_at') }} as date) as report_date,

        -- lineage
        {{ chat_analytics.processed_load_seq() }} as _processed_load_seq

    from conversation_summaries

)

select * from final
{{ chat_analytics.order_for_pruning('started_at, conversation_id') }}
