{#
    Date spine of the dense marts (decision M8): every local date from the first to the
    last local date of all staged events, events outside any conversation included.
    (Min / max are taken over local dates, not instants: in zones whose clocks fall back
    at midnight a later instant can have an earlier local date.)

    Incremental (decision O9): rebuilt every run from the bookkeeping table of events per local date
    and channel (kept by stg_chat__events), not from staging.
#}
{{ config(replace_where="true") }}

with

events as (

    select occurred_at
    from {{ ref('stg_chat__events') }}

),

local_dates as (

    {%- if chat_analytics.incremental_run() %}
    select local_date as occurred_local_date
    from {{ chat_analytics.bookkeeping_relation('event_days') }}
    where events > 0
    {%- else %}
    select cast({{ to_local_timestamp('occurred_at') }} as date) as occurred_local_date
    from events
    {%- endif %}

),

date_bounds as (

    select
        min(occurred_local_date) as first_date,
        max(occurred_local_date) as last_date
    from local_dates

),

days as (

    {{ days_between('first_date', 'last_date', 'date_bounds') }}

),

final as (

    select cast(date_day as date) as report_date
    from days

)

select * from final
