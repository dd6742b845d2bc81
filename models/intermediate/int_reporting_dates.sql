{#
    Date spine of the dense marts (decision M8): every local date from the first to the
    last local date of all staged events, events outside any conversation included.
    (Min / max are taken over local dates, not instants: in zones whose clocks fall back
    at midnight a later instant can have an earlier local date.) Rebuilt every run from
    int_event_days, a few thousand rows.
#}
{{ config(replace_where="true") }}

with

event_days as (

    select local_date
    from {{ ref('int_event_days') }}

),

date_bounds as (

    select
        min(local_date) as first_date,
        max(local_date) as last_date
    from event_days

),

days as (

    {{ days_between('first_date', 'last_date', 'date_bounds') }}

),

final as (

    select cast(date_day as date) as report_date
    from days

)

select * from final
