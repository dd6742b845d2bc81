{# Channel list of the dense marts (decision M8): every channel of the staged events. #}

with

events as (

    select channel
    from {{ ref('stg_chat__events') }}

),

final as (

    select distinct channel
    from events

)

select * from final
