#!/usr/bin/env bash
# Create the application database on a Lakebase instance (kept for the original's name).
# Usage: scripts/create-database.sh <instance_name> <profile> [database_name]
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "Usage: $0 <instance_name> <profile> [database_name]" >&2
  echo "  instance_name: Lakebase instance name (e.g., deep-research-lakebase-dre-dev)" >&2
  echo "  profile: Databricks CLI profile (e.g., e2-demo-west)" >&2
  echo "  database_name: Database to create (default: deep_research)" >&2
  exit 2
fi
exec "${DRA:-dra}" --profile "$2" create-database --instance "$1" --database "${3:-deep_research}"
