{#
    Incremental (decision O9): the conversations int_conversations deleted or wrote since the
    watermark are replaced.
#}
{{ config(replace_where="
    target_rows.conversation_id in (
        select conversation_id
        from {{ chat_analytics.changed_since_watermark('int_conversations', 'conversation_id') }}
    )
") }}

with

conversations as (

    select * from {{ ref('int_conversations') }}
    {%- if chat_analytics.incremental_run() %}
    where _processed_load_seq > {{ chat_analytics.load_window()['previous_load_seq'] }}
    {%- endif %}

),

final as (

    select
        -- ids
        conversation_id,
        customer_id,

        -- strings
        channel,
        support_type,

        -- numerics
        chatbot_duration_seconds,
        start_hour_of_day,
        event_count,

        -- booleans
        is_engaged,
        has_welcome,

        -- timestamps and dates
        started_at,
        ended_at,
        first_received_at,
        report_date

    from conversations

)

select * from final
