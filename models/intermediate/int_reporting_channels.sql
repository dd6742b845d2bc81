{#
    Channel list of the dense marts (decision M8): every channel of the staged events. Rebuilt every
    run from int_event_days.
#}
{{ config(replace_where="true") }}

with

event_days as (

    select channel
    from {{ ref('int_event_days') }}

),

final as (

    select distinct channel
    from event_days

)

select * from final
