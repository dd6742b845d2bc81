{#
    The run plan's first step (decision O5): the winning copies that loads removed or added since the
    watermark, normalised like stg_chat__events so that their threads and handover ids match it. Both
    versions of a changed event name what to recompute: a redelivered copy may carry another thread or
    instant. Empty in a full run, which works from the whole raw layer.
#}
{{ config(materialized='table') }}

{%- set window = chat_analytics.load_window() %}

with

event_changes as (

    select
        change_type,
        event_id,
        customer_id,
        channel,
        handover_id,
        occurred_at_utc,
        _arrival_date,
        load_seq
    from {{ source('raw', 'event_changes') }}
    where
    {%- if chat_analytics.incremental_run() %}
        load_seq > {{ window['previous_load_seq'] }}
        and load_seq <= {{ window['load_seq'] }}
    {%- else %}
        false
    {%- endif %}

),

final as (

    select distinct
        -- ids
        event_id,
        customer_id,
        {{ chat_analytics.blank_to_null('handover_id') }} as handover_id,

        -- strings
        change_type,
        {{ chat_analytics.normalized_channel('channel') }} as channel,

        -- timestamps
        occurred_at_utc as occurred_at,

        -- lineage
        _arrival_date

    from event_changes

)

select * from final
