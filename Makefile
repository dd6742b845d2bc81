# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SPARK_STAMP := $(VENV)/.installed-spark-stamp
DEMO_DAYS ?= 14
DEV_PORT ?= 3000
DEMO_START := $(shell date -u -d "-$$(( $(DEMO_DAYS) - 1 )) days" +%F)
TODAY := $(shell date -u +%F)

DASHBOARD_PORT ?= 8501
DASHBOARD_HOST ?= 127.0.0.1

.PHONY: install install-spark demo dashboard test test-slow test-spark test-fast lint docs dev benchmark clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The Spark engine's packages (pyspark, dbt-spark); Java 17 comes from the system.
$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	touch $(SPARK_STAMP)

install-spark: $(SPARK_STAMP)

# Quiet on purpose: the run's summary lines and the tab (the full log's path is printed).
demo: install
	@if [ "$${CHAT_ANALYTICS_ENGINE:-duckdb}" = spark ]; then $(MAKE) --no-print-directory install-spark; fi
	@CHAT_ANALYTICS_START_DATE=$${CHAT_ANALYTICS_START_DATE:-$(DEMO_START)} \
		$(BIN)/chat-analytics generate --quiet --start $(DEMO_START) --days $(DEMO_DAYS)
	@CHAT_ANALYTICS_START_DATE=$${CHAT_ANALYTICS_START_DATE:-$(DEMO_START)} \
		$(BIN)/chat-analytics materialize --start $(DEMO_START) --end $(TODAY)
	@$(BIN)/chat-analytics report --days 7

# The Conversations tab as a web page over the serving snapshot (after `make demo`).
dashboard: install
	$(BIN)/chat-analytics dashboard --port $(DASHBOARD_PORT) --host $(DASHBOARD_HOST)

# Everything but the tests marked slow (process kills, concurrent runs, a 200 MB file, the longest
# property example); .ci/run runs both.
test: install
	$(BIN)/pytest -q -m "not slow and not spark"

test-slow: install
	$(BIN)/pytest -q -m slow

# The Spark engine: the loader tests against Spark, the dbt unit tests on Spark, and one generated
# data set built on both engines with every mart compared column for column (tests marked spark).
test-spark: install-spark
	$(BIN)/pytest -q -m spark

test-fast: test

lint: install
	$(BIN)/ruff check orchestration tests benchmarks dashboard
	$(BIN)/ruff format --check orchestration tests benchmarks dashboard

docs: install
	CHAT_ANALYTICS_WAREHOUSE=$${CHAT_ANALYTICS_WAREHOUSE:-$(CURDIR)/data/warehouse.duckdb} \
		$(BIN)/dbt docs generate --project-dir dbt_project --profiles-dir dbt_project

# Dagster 1.13 says `dagster dev` is superseded by `dg dev` (a package we do not install): that warning
# is about Dagster's CLI, not this project, so it is silenced for this command only.
dev: install
	DAGSTER_HOME="$${DAGSTER_HOME:-$(CURDIR)/.dagster_home}" && mkdir -p "$$DAGSTER_HOME" && \
		{ test -f "$$DAGSTER_HOME/dagster.yaml" || cp orchestration/dagster.yaml "$$DAGSTER_HOME/dagster.yaml"; } && \
		DAGSTER_HOME="$$DAGSTER_HOME" PYTHONWARNINGS='ignore:Function `dev_command` is superseded' \
		$(BIN)/dagster dev -m orchestration.definitions -p $(DEV_PORT)

benchmark: install
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf data dbt_project/target dbt_project/logs .pytest_cache
