-- depends_on: {{ ref('stg_chat__event_changes') }}
{#
    Incremental (decision O5): the events whose winning copy changed since the watermark are
    replaced, read from the raw partitions the changes name.
#}
{{ config(
    replace_where="
        target_rows.event_id in (select event_id from {{ ref('stg_chat__event_changes') }})
        and target_rows.occurred_at between {{ chat_analytics.change_bounds()['min_changed_at'] }}
            and {{ chat_analytics.change_bounds()['max_changed_at'] }}
    ",
) }}

{%- set incremental = chat_analytics.incremental_run() %}
{%- if incremental %}
    {%- set bounds = chat_analytics.change_bounds() %}
{%- endif %}

with

source_events as (

    select * from {{ source('raw', 'chat_events') }}
    {%- if incremental %}
    where _arrival_date between {{ bounds['min_added_arrival'] }} and {{ bounds['max_added_arrival'] }}
        and exists (
            select 1
            from {{ ref('stg_chat__event_changes') }} as changed
            where changed.change_type = 'added'
                and changed.event_id = chat_events.event_id
                and changed._arrival_date = chat_events._arrival_date
        )
    {%- endif %}

),

first_copies as (

    -- the loader ranks redelivered copies (decision R8): keep the winning copy only
    select * from source_events
    where not _is_duplicate

),

final as (

    select
        -- ids
        event_id,
        customer_id,
        {{ blank_to_null('handover_id') }} as handover_id,
        {{ blank_to_null('agent_id') }} as agent_id,

        -- strings
        {{ normalized_channel('channel') }} as channel,
        event_type,
        sender,
        coalesce(nullif({{ chat_analytics.trim_whitespace('message_type') }}, ''), 'text') as message_type,
        {{ blank_to_null('department') }} as department,
        {{ blank_to_null('flow_type') }} as flow_type,

        -- semi-structured (kept; `text` and `extra_fields` are not)
        properties,

        -- timestamps
        occurred_at_utc as occurred_at,

        -- lineage
        _arrival_date,
        _source_file,
        _line_number,
        _load_id,
        _loaded_at,
        {{ chat_analytics.processed_load_seq() }} as _processed_load_seq

    from first_copies

)

-- Not sorted (issue 13: the sort was half of this model's time at 10M events): raw rows come in load
-- order, so a row group's latest occurred_at is about its arrival date and the incremental readers'
-- `occurred_at >=` bounds still skip old row groups through DuckDB's zone maps.
select * from final
