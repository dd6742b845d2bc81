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
        max(case when {{ chat_analytics.is_bot_flow_message() }} then stretch_position end) as last_flow_position
    from conversation_events
    group by conversation_id, customer_id, channel

),

last_flow_types as (

    select
        conversation_events.conversation_id,
        conversation_events.flow_type as last_flow_type
    from conversation_events
    inner join conversation_summaries
        on conversation_events.conversation_id = conversation_summaries.conversation_id
        and conversation_events.stretch_position = conversation_summaries.last_flow_position

),

final as (

    select
        -- ids
        conversation_summaries.conversation_id,
        conversation_summaries.customer_id,

        -- strings
        conversation_summaries.channel,
        coalesce(last_flow_types.last_flow_type, 'other') as support_type,

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
    left join last_flow_types
        on conversation_summaries.conversation_id = last_flow_types.conversation_id

)

select * from final
{{ chat_analytics.order_for_pruning('started_at, conversation_id') }}
