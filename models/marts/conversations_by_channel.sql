with

conversations as (

    select
        conversation_id,
        channel,
        support_type,
        report_date,
        is_engaged
    from {{ ref('int_conversations') }}

),

final as (

    select
        report_date,
        channel,
        support_type,
        cast(count(*) as {{ dbt.type_bigint() }}) as total_conversations,
        cast(count(case when is_engaged then 1 end) as {{ dbt.type_bigint() }}) as engaged_conversations
    from conversations
    group by report_date, channel, support_type

)

select
    report_date,
    channel,
    support_type,
    total_conversations,
    engaged_conversations
from final
