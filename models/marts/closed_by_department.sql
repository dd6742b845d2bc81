with

handover_requests as (

    select
        handover_id,
        channel,
        department,
        closed_at,
        closed_date
    from {{ ref('int_handover_requests') }}

),

final as (

    select
        closed_date as report_date,
        department,
        channel,
        cast(count(*) as {{ dbt.type_bigint() }}) as closed_conversations
    from handover_requests
    where closed_at is not null
    group by closed_date, department, channel

)

select
    report_date,
    department,
    channel,
    closed_conversations
from final
