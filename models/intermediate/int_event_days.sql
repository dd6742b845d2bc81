-- depends_on: {{ ref('stg_chat__event_changes') }}
{#
    Staged events per local date and channel: the dense marts' date spine and channel list
    (decision M8) without a scan of staging. Incremental (decision O9): the (date, channel) pairs of
    the changed events (either version) are recounted; a pair left without events disappears.
#}
{{ config(replace_where="
    (target_rows.local_date, target_rows.channel) in (
        select local_date, channel from ({{ chat_analytics.changed_event_days() }})
    )
") }}

{%- set incremental = chat_analytics.incremental_run() %}

with

staged as (

    select
        cast({{ to_local_timestamp('occurred_at') }} as date) as local_date,
        channel
    from {{ ref('stg_chat__events') }}
    {%- if incremental %}
    {%- set bounds = chat_analytics.change_bounds() %}
    -- a local date lies within a day and a half of its UTC instants: prune by time first
    where occurred_at >= {{ chat_analytics.add_days(bounds['min_changed_at'], -2) }}
        and occurred_at < {{ chat_analytics.add_days(bounds['max_changed_at'], 2) }}
    {%- endif %}

),

{%- if incremental %}

changed_days as (

    {{ chat_analytics.changed_event_days() }}

),

{%- endif %}

final as (

    select
        staged.local_date,
        staged.channel,
        cast(count(*) as {{ dbt.type_bigint() }}) as events
    from staged
    {%- if incremental %}
    inner join changed_days
        on staged.local_date = changed_days.local_date
        and staged.channel = changed_days.channel
    {%- endif %}
    group by staged.local_date, staged.channel

)

select * from final
