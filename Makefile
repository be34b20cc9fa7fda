# dra: build, test and operate. `make help` lists the targets.
SHELL := /usr/bin/env bash
CARGO ?= cargo
TARGET ?= dev
PROFILE ?= $(TARGET)
INSTANCE ?= deep-research-lakebase

.PHONY: help install build test lint fmt bench db-migrate db-migrate-remote logs deploy

help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-20s %s\n", $$1, $$2}'

install: ## Install the dra binary into ~/.cargo/bin
	$(CARGO) install --locked --path .

build: ## The Databricks App bundle in build/app (static musl binary, gzip, parts <= 10 MB)
	bash scripts/build-bundle.sh

test: ## Whole test suite (starts or installs PostgreSQL when needed)
	@url="$$(scripts/test-postgres.sh)" && export DRA_TEST_PG_URL="$$url" && \
	  echo "PostgreSQL for tests: $$url" && \
	  $(CARGO) test --locked --no-fail-fast

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
	  $(CARGO) bench --locked --bench serve

db-migrate: ## Apply migrations to DATABASE_URL (or the configured Lakebase)
	$(CARGO) run --quiet --locked -- migrate

db-migrate-remote: ## Apply migrations on the deployed Lakebase: TARGET=dev [PROFILE=] [INSTANCE=]
	$(CARGO) run --quiet --locked -- --profile "$(PROFILE)" migrate --instance "$(INSTANCE)"

APP_NAME ?= deep-research-agent

logs: ## An app's logs: TARGET=dev [FOLLOW=-f] [SEARCH=term] (app $(APP_NAME)-$(TARGET))
	$(CARGO) run --quiet --locked -- --profile "$(PROFILE)" logs --app "$(APP_NAME)-$(TARGET)" \
	  $(if $(FOLLOW),--follow) $(if $(SEARCH),--search "$(SEARCH)")

deploy: ## Deploy app, Lakebase, schema and grants: TARGET=dev [BRAVE_SCOPE=] [DRY_RUN=1] [PROFILE=]
	TARGET="$(TARGET)" BRAVE_SCOPE="$(BRAVE_SCOPE)" DRY_RUN="$(DRY_RUN)" \
	  $(if $(filter command line environment,$(origin PROFILE)),PROFILE="$(PROFILE)") \
	  bash scripts/deploy.sh
