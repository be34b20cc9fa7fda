#!/usr/bin/env bash
# Wait until a Lakebase instance is ready and connectable (kept for the original's name).
# Usage: scripts/wait-for-lakebase.sh <instance_name> <profile> [max_retries]
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "Usage: $0 <instance_name> <profile> [max_retries]" >&2
  echo "  instance_name: Lakebase instance name (e.g., deep-research-lakebase-dre-dev)" >&2
  echo "  profile: Databricks CLI profile (e.g., e2-demo-west)" >&2
  echo "  max_retries: Number of connection attempts (default: 10)" >&2
  exit 2
fi
exec "${DRA:-dra}" --profile "$2" wait-lakebase --instance "$1" --retries "${3:-10}" --delay "${RETRY_DELAY:-10s}"
