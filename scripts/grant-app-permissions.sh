#!/usr/bin/env bash
# Grant the app's service principal access to the tables (kept for the original's name).
# Usage: scripts/grant-app-permissions.sh <instance_name> <profile> [database_name] [app_name]
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "Usage: $0 <instance_name> <profile> [database_name] [app_name]" >&2
  echo "  instance_name: Lakebase instance name (e.g., deep-research-lakebase-dre-dev)" >&2
  echo "  profile: Databricks CLI profile (e.g., e2-demo-west)" >&2
  echo "  database_name: Database to grant permissions on (default: deep_research)" >&2
  echo "  app_name: Databricks App name, exact (default: deep-research-agent)" >&2
  exit 2
fi
exec "${DRA:-dra}" --profile "$2" grant-permissions --instance "$1" --database "${3:-deep_research}" --app "${4:-deep-research-agent}"
