{#
    The sessionized events that carry a handover_id: the input of the handover request, reply and
    orphan models, which recompute per handover_id (decision O8). Kept apart from
    int_events_sessionized because it is about 1/10 of its rows and read by handover_id.
    Incremental: the rows of int_run_threads' ranges are replaced, like the sessionization's.
#}
{{ config(replace_where="{{ chat_analytics.in_recomputed_range('target_rows') }}") }}

with

sessionized as (

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
    from {{ ref('int_events_sessionized') }} as sessionized
    where
        handover_id is not null
        and {{ chat_analytics.in_recomputed_range('sessionized') }}

),

final as (

    select
        -- ids
        event_id,
        conversation_id,
        customer_id,
        handover_id,
        agent_id,

        -- strings
        channel,
        event_type,
        sender,
        message_type,
        department,

        -- timestamps and dates
        occurred_at,
        occurred_local_date,

        -- lineage
        _arrival_date,
        _loaded_at,
        {{ chat_analytics.processed_load_seq() }} as _processed_load_seq

    from sessionized

)

-- ordered by handover_id: the handover models read it by id
select * from final
{{ chat_analytics.order_for_pruning('handover_id, occurred_at') }}
