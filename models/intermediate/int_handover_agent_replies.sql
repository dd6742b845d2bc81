{#
    Qualifying agent replies (SPEC §3 "agent replies", decisions M4, M5): agent messages with a
    handover_id, not internal notes, at or after that handover's first handover_received.
    Matched by handover_id alone; a handover never received has no replies.

    Incremental (decision O8): the replies of the changed handover requests are replaced.
#}
{{ config(
    replace_where="
        target_rows.handover_id in (select handover_id from {{ chat_analytics.plan_relation('changed_handovers') }})
    ",
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
    from {{ chat_analytics.handover_events_source(ref('int_events_sessionized')) }}
    where handover_id is not null

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
    where
        event_type = 'message'
        and sender = 'agent'
        and coalesce(message_type, 'text') <> 'internal_note'

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
    where agent_messages.occurred_at >= receptions.received_at

)

select * from final
