{#
    Events carrying a handover_id whose handover_requested has not arrived (yet). They are
    kept here to be counted; they join their request as soon as it arrives and then leave this
    model: a run replaces the events of every handover id with a changed event (decision O8).
#}
-- depends_on: {{ ref('int_run_handovers') }}
{{ config(replace_where="{{ chat_analytics.in_recomputed_handovers('target_rows') }}") }}

with

handover_events as (

    select
        event_id,
        conversation_id,
        customer_id,
        handover_id,
        agent_id,
        channel,
        event_type,
        sender,
        message_type,
        department,
        occurred_at,
        occurred_local_date,
        _arrival_date,
        _loaded_at
    from {{ ref('int_handover_events') }} as handover_events
    where {{ chat_analytics.in_recomputed_handovers('handover_events') }}

),

requested_handovers as (

    select distinct handover_id
    from handover_events
    where event_type = 'handover_requested'

),

final as (

    select
        handover_events.*,
        {{ chat_analytics.processed_load_seq() }} as _processed_load_seq
    from handover_events
    left join requested_handovers
        on handover_events.handover_id = requested_handovers.handover_id
    where requested_handovers.handover_id is null

)

select * from final
