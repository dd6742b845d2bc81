"""DDL of the raw layer: the contract between the loader and dbt's `raw` source.

Every statement is idempotent: it runs before each load, on new and on existing warehouses.
"""

from __future__ import annotations

RAW_SCHEMA_DDL: tuple[str, ...] = (
    "create schema if not exists raw",
    """
    create table if not exists raw.chat_events (
        event_id varchar not null,
        occurred_at varchar not null,
        occurred_at_utc timestamptz not null,
        customer_id varchar not null,
        channel varchar not null,
        event_type varchar not null,
        sender varchar,
        message_type varchar,
        handover_id varchar,
        agent_id varchar,
        department varchar,
        flow_type varchar,
        text varchar,
        properties json,
        extra_fields json,
        _arrival_date date not null,
        _source_file varchar not null,
        _line_number bigint not null,
        _load_id varchar not null,
        _loaded_at timestamptz not null,
        _is_duplicate boolean not null
    )
    """,
    """
    create table if not exists raw.quarantined_events (
        _arrival_date date not null,
        _source_file varchar not null,
        _line_number bigint not null,
        raw_line varchar,
        raw_line_bytes bigint not null,
        reason varchar not null,
        _load_id varchar not null,
        _loaded_at timestamptz not null
    )
    """,
    """
    create table if not exists raw.load_log (
        load_id varchar not null,
        arrival_date date not null,
        started_at timestamptz not null,
        finished_at timestamptz not null,
        files_read integer not null,
        lines_read bigint not null,
        valid_rows bigint not null,
        quarantined_rows bigint not null,
        duplicate_rows bigint not null
    )
    """,
    # Change tracking for incremental dbt runs (decision O4): every load that writes a partition
    # takes the next load sequence number, and records in raw.event_changes which winning copies
    # (`not _is_duplicate`) it removed and which it added. dbt reads the changes above the last load
    # sequence it fully processed, so an event arriving any number of days late is never missed.
    "alter table raw.load_log add column if not exists load_seq bigint",
    # sha256 of the loader version and the files' names and bytes: a rerun on identical files is skipped.
    "alter table raw.load_log add column if not exists files_fingerprint varchar",
    """
    create table if not exists raw.event_changes (
        load_seq bigint not null,
        change_type varchar not null,
        event_id varchar not null,
        customer_id varchar not null,
        channel varchar not null,
        handover_id varchar,
        occurred_at_utc timestamptz not null,
        _arrival_date date not null
    )
    """,
)
