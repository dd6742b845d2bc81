{#
    The labels a dashboard shows for the codes of the marts, from the seeds. Rebuilt whole every run
    (a few dozen rows). Channels and support types are open sets: every value of the data has a row,
    named by its seed when the seed knows it, else by its code.
#}
{{ config(replace_where="true") }}

with

outcomes as (

    select outcome, outcome_order, label_en, label_fr from {{ ref('outcomes') }}

),

support_types as (

    select support_type, display_order, label_en, label_fr from {{ ref('support_types') }}

),

days_of_week as (

    select day_of_week, day_name_en, day_name_fr from {{ ref('days_of_week') }}

),

channels as (

    select channel, display_name from {{ ref('channels') }}

),

reporting_channels as (

    select channel from {{ ref('int_reporting_channels') }}

),

reported_support_types as (

    select distinct support_type from {{ ref('conversations_by_channel') }}

),

channel_labels as (

    -- every channel of the seed or of the data; one the seed does not know is shown by its code
    select
        'channel' as dimension,
        coalesce(reporting_channels.channel, channels.channel) as code,
        cast(null as {{ dbt.type_int() }}) as display_order,
        coalesce(channels.display_name, reporting_channels.channel) as label_en,
        coalesce(channels.display_name, reporting_channels.channel) as label_fr
    from channels
    full outer join reporting_channels
        on channels.channel = reporting_channels.channel

),

support_type_labels as (

    select
        'support_type' as dimension,
        coalesce(reported_support_types.support_type, support_types.support_type) as code,
        support_types.display_order,
        coalesce(support_types.label_en, reported_support_types.support_type) as label_en,
        coalesce(support_types.label_fr, reported_support_types.support_type) as label_fr
    from support_types
    full outer join reported_support_types
        on support_types.support_type = reported_support_types.support_type

),

outcome_labels as (

    select
        'outcome' as dimension,
        outcome as code,
        outcome_order as display_order,
        label_en,
        label_fr
    from outcomes

),

day_labels as (

    select
        'day_of_week' as dimension,
        cast(day_of_week as {{ dbt.type_string() }}) as code,
        day_of_week as display_order,
        day_name_en as label_en,
        day_name_fr as label_fr
    from days_of_week

),

labels as (

    select * from channel_labels
    union all
    select * from support_type_labels
    union all
    select * from outcome_labels
    union all
    select * from day_labels

),

final as (

    select
        cast(dimension as {{ dbt.type_string() }}) as dimension,
        cast(code as {{ dbt.type_string() }}) as code,
        cast(display_order as {{ dbt.type_int() }}) as display_order,
        cast(label_en as {{ dbt.type_string() }}) as label_en,
        cast(label_fr as {{ dbt.type_string() }}) as label_fr
    from labels

)

select
    dimension,
    code,
    display_order,
    label_en,
    label_fr
from final
