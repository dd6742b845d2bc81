with

source_events as (

    select * from {{ source('raw', 'chat_events') }}

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
        lower(trim(channel)) as channel,
        event_type,
        sender,
        coalesce(nullif(trim(message_type), ''), 'text') as message_type,
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
        _loaded_at

    from first_copies

)

select * from final
