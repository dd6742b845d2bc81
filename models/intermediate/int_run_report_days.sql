-- depends_on: {{ ref('int_conversations') }}
-- depends_on: {{ ref('int_handover_requests') }}
-- depends_on: {{ ref('int_handover_agent_replies') }}
{#
    The (report_date, channel) pairs whose numbers an incremental run may change (decision O9), and
    through which facts: the dates of every conversation removed or written since the watermark
    (`conversations`), and for each handover request removed or written since then every date it or
    its replies count on (request, reception, first reply, close, each reply) on every channel it had
    (`handovers`). Removed rows are read from the removal logs that the `replace_affected` strategy
    keeps. Reading "since the watermark" rather than "this run" lets a run redo what a failed run
    left half done. Empty in a full run.
#}
{{ config(materialized='table') }}

{%- set incremental = chat_analytics.incremental_run() %}

with

{%- if incremental %}

conversation_days as (

    select report_date, channel
    from {{ chat_analytics.changed_since_watermark('int_conversations', 'report_date, channel') }}

),

handover_dates as (

    select handover_id, {{ chat_analytics.unnest_values(['requested_date', 'received_date', 'first_agent_reply_date', 'closed_date']) }} as report_date
    from {{ chat_analytics.changed_since_watermark(
        'int_handover_requests',
        'handover_id, requested_date, received_date, first_agent_reply_date, closed_date'
    ) }}
    union all
    select handover_id, reply_date
    from {{ chat_analytics.changed_since_watermark('int_handover_agent_replies', 'handover_id, reply_date') }}

),

handover_channels as (

    select distinct handover_id, channel
    from {{ chat_analytics.changed_since_watermark('int_handover_requests', 'handover_id, channel') }}

),

handover_days as (

    select handover_dates.report_date, handover_channels.channel
    from handover_dates
    inner join handover_channels
        on handover_dates.handover_id = handover_channels.handover_id

),

{%- else %}

conversation_days as (

    select report_date, channel
    from {{ ref('int_conversations') }}
    where false

),

handover_days as (

    select report_date, channel
    from conversation_days

),

{%- endif %}

final as (

    select distinct report_date, channel, 'conversations' as changed_by
    from conversation_days
    where report_date is not null
    union
    select distinct report_date, channel, 'handovers' as changed_by
    from handover_days
    where report_date is not null

)

select * from final
