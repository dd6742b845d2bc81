{#
    Qualifying agent replies (SPEC §3 "agent replies", decisions M4, M5): agent messages with a
    handover_id, not internal notes, at or after that handover's first handover_received.
    Matched by handover_id alone; a handover never received has no replies.

    Incremental (decision O8): the replies of the changed handover requests are replaced.
#}
-- depends_on: {{ ref('int_run_handovers') }}
{{ config(
    replace_where="{{ chat_analytics.in_recomputed_handovers('target_rows') }}",
    removal_log_columns=['reply_event_id', 'handover_id', 'reply_date'],
) }}

with

events as (

    select
        event_id,
        handover_id,
        agent_id,
        event_type,
        sender,
        message_type,
        occurred_at
    from {{ ref('int_handover_events') }} as handover_events
    where {{ chat_analytics.in_recomputed_handovers('handover_events') }}

),

receptions as (

    select
        handover_id,
        min(occurred_at) as received_at
    from events
    where event_type = 'handover_received'
    group by handover_id

),

agent_messages as (

    select *
    from events
    where {{ chat_analytics.is_visible_agent_message() }}

),

final as (

    select
        -- ids
        agent_messages.event_id as reply_event_id,
        agent_messages.handover_id,
        agent_messages.agent_id,

        -- timestamps and dates
        receptions.received_at,
        agent_messages.occurred_at as replied_at,
        {{ to_local_timestamp('agent_messages.occurred_at') }} as replied_local_at,
        cast({{ to_local_timestamp('agent_messages.occurred_at') }} as date) as reply_date,

        -- lineage
        {{ chat_analytics.processed_load_seq() }} as _processed_load_seq

    from agent_messages
    inner join receptions
        on agent_messages.handover_id = receptions.handover_id
    where {{ chat_analytics.is_agent_reply('agent_messages.', 'receptions.received_at') }}

)

select * from final
