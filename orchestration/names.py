"""Names shared by several modules: Dagster objects, warehouse tables and the pool of writers.

Plain strings, so that modules without Dagster (the serving snapshot, the report) can use them.
"""

from __future__ import annotations

# Dagster objects
DAILY_JOB = "chat_analytics_daily"
SCHEDULE = "daily_arrivals"
SENSOR = "landing_folders"
RAW_ASSET = "raw_chat_events"
DBT_ASSETS = "chat_analytics_dbt"
SERVING_ASSET = "serving_snapshot"
QUARANTINE_CHECK = "quarantined_share_within_threshold"
LANDING_CHECK = "landing_folder_present"
# DuckDB admits one writing process: every asset that writes the warehouse is in this pool, whose limit
# `orchestration/dagster.yaml` sets to one (decision O14).
WAREHOUSE_POOL = "duckdb_warehouse"

# Asset groups: the dbt layers (also their schemas), then what is around them.
RAW_GROUP = "raw"
SEEDS_GROUP = "seeds"
DBT_LAYERS = ("staging", "intermediate", "marts")
MARTS_GROUP = "marts"
SERVING_GROUP = "serving"

# Warehouse tables read outside the module that writes them.
RAW_LOAD_LOG = "raw.load_log"
INCREMENTAL_RUNS = "intermediate._incremental_runs"

# Resource keys
WAREHOUSE_RESOURCE = "warehouse"
DBT_RESOURCE = "dbt"
SERVING_RESOURCE = "serving"
PROGRESS_RESOURCE = "progress"
