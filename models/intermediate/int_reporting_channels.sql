{#
    Channel list of the dense marts (decision M8): every channel of the staged events.
    Incremental (decision O9): rebuilt every run from the bookkeeping table of events per local
    date and channel (kept by stg_chat__events), not from staging.
#}
{{ config(replace_where="true") }}

with

events as (

    {%- if chat_analytics.incremental_run() %}
    select channel
    from {{ chat_analytics.bookkeeping_relation('event_days') }}
    where events > 0
    {%- else %}
    select channel
    from {{ ref('stg_chat__events') }}
    {%- endif %}

),

final as (

    select distinct channel
    from events

)

select * from final
