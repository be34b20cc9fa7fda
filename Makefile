# dra: build, test and operate. `make help` lists the targets.
SHELL := /usr/bin/env bash
CARGO ?= cargo
TARGET ?= dev
# The Databricks CLI profile, only when given (else dra's usual credential order).
PROFILE_FLAG = $(if $(PROFILE),--profile "$(PROFILE)")
# How the Makefile runs dra (DRA=/path/to/dra to skip cargo).
DRA ?= $(CARGO) run --quiet --locked --
INSTANCE ?= deep-research-lakebase

.PHONY: help install dev build prod test test-integration test-mlflow e2e e2e-original lint fmt bench db-migrate db-migrate-remote logs deploy

help: ## List targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-20s %s\n", $$1, $$2}'

install: ## Install the dra binary into ~/.cargo/bin
	$(CARGO) install --locked --path .

PORT ?= 8000

dev: ## Server on :8000 (PORT=) with local Postgres (dra_dev); restarts on config/src changes, UI read from disk
	PORT="$(PORT)" bash scripts/dev.sh

build: ## The Databricks App bundle in build/app (static musl binary, gzip, parts <= 10 MB)
	bash scripts/build-bundle.sh

prod: ## Release build served on :8000 (PORT=) with the embedded UI (DATABASE_URL or Lakebase env for storage)
	SERVE_STATIC=true $(CARGO) run --locked --release -- serve --port "$(PORT)"

test: ## Whole test suite (starts or installs PostgreSQL when needed)
	@url="$$(scripts/test-postgres.sh)" && export DRA_TEST_PG_URL="$$url" && \
	  echo "PostgreSQL for tests: $$url" && \
	  $(CARGO) test --locked --no-fail-fast

test-integration: ## Live tests against a real workspace, Brave and Lakebase (needs credentials; README: Testing)
	$(CARGO) test --locked --test it -- live:: --ignored --test-threads 1

test-mlflow: ## One research against a real `mlflow server` (mlflow from PyPI into target/mlflow-venv on first use)
	bash scripts/test-mlflow.sh

e2e: ## End to end: the UI in Chromium, two serve processes, make deploy against the fakes
	@url="$$(scripts/test-postgres.sh)" && export DRA_TEST_PG_URL="$$url" && \
	  $(CARGO) test --locked --test it -- ui_browser:: serve_processes:: deploy_e2e:: deploy_pipeline::

e2e-original: ## The original's React frontend and Playwright suite against dra serve: ORIGINAL=<its checkout or git dir> [RUN_SLOW_TESTS=1]
	bash scripts/original-e2e.sh "$(ORIGINAL)"

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

bench: ## Benchmarks; results as JSON in bench-results/
	@url="$$(scripts/test-postgres.sh)" && export DRA_TEST_PG_URL="$$url" && \
	  $(CARGO) bench --locked --bench foundation && \
	  $(CARGO) bench --locked --bench llm_router && \
	  $(CARGO) bench --locked --bench extraction && \
	  $(CARGO) bench --locked --bench research_run && \
	  $(CARGO) bench --locked --bench verification && \
	  $(CARGO) bench --locked --bench sse && \
	  $(CARGO) bench --locked --bench serve && \
	  $(CARGO) bench --locked --bench shipped_config

db-migrate: ## Apply migrations to DATABASE_URL (or the configured Lakebase)
	$(DRA) migrate

db-migrate-remote: ## Apply migrations on the deployed Lakebase: [PROFILE=] [INSTANCE=] [DATABASE=]
	LAKEBASE_DATABASE="$(or $(DATABASE),deep_research)" $(DRA) $(PROFILE_FLAG) migrate --instance "$(INSTANCE)"

APP_NAME ?= deep-research-agent

# SEARCH takes a term, or the original's form "--search TERM".
logs: ## An app's logs: TARGET=dev [FOLLOW=-f] [SEARCH=term] [PROFILE=] (app $(APP_NAME)-$(TARGET))
	@search='$(subst ','\'',$(SEARCH))'; search="$${search#--search }"; \
	  $(DRA) $(PROFILE_FLAG) logs --app "$(APP_NAME)-$(TARGET)" \
	  $(if $(FOLLOW),--follow) $${search:+--search "$$search"}

deploy: ## Deploy app, Lakebase, schema and grants: TARGET=dev [BRAVE_SCOPE=] [DRY_RUN=1] [PROFILE=]
	@TARGET="$(TARGET)" BRAVE_SCOPE="$(BRAVE_SCOPE)" DRY_RUN="$(DRY_RUN)" \
	  $(if $(PROFILE),PROFILE="$(PROFILE)") \
	  bash scripts/deploy.sh
