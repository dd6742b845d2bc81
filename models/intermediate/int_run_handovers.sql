{#
    The handover requests an incremental run recomputes (decision O8): every handover_id carried by a
    changed event (either version), and every handover_id with an event in a recomputed thread range,
    whose request may now belong to another conversation. Outcome, reception, replies and close are
    matched by handover_id across threads (decision M4), so each is recomputed from all of its events.
    Empty in a full run.
#}
{{ config(materialized='table') }}

with

changed_events as (

    select handover_id
    from {{ ref('stg_chat__event_changes') }}
    where handover_id is not null

),

recomputed_events as (

    select handover_id
    from {{ ref('int_handover_events') }} as handover_events
    where
    {%- if chat_analytics.incremental_run() %}
        {{ chat_analytics.in_recomputed_range('handover_events') }}
    {%- else %}
        false
    {%- endif %}

),

final as (

    select handover_id from changed_events
    union
    select handover_id from recomputed_events

)

select * from final
