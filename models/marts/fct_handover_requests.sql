{#
    Incremental (decision O9): the handover requests int_handover_requests deleted or wrote since
    the watermark are replaced.
#}
{{ config(replace_where="
    target_rows.handover_id in (
        select handover_id
        from {{ chat_analytics.changed_since_watermark('int_handover_requests', 'handover_id') }}
    )
") }}

with

handover_requests as (

    select * from {{ ref('int_handover_requests') }}
    {%- if chat_analytics.incremental_run() %}
    where _processed_load_seq > {{ chat_analytics.load_window()['previous_load_seq'] }}
    {%- endif %}

),

final as (

    select
        -- ids
        handover_id,
        conversation_id,
        customer_id,

        -- strings
        channel,
        outcome,
        department,

        -- numerics
        initial_wait_seconds,
        agent_reply_count,
        requested_hour_of_day,

        -- timestamps and local dates
        requested_at,
        received_at,
        first_agent_reply_at,
        closed_at,
        requested_date,
        received_date,
        first_agent_reply_date,
        closed_date

    from handover_requests

)

select * from final
