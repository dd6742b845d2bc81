"""chat-analytics: raw chat events to the Conversations tab's metrics (Dagster + dbt + DuckDB)."""
