#!/usr/bin/env bash
# The eight steps of `make deploy`, in order; each prints its name and result, and the
# first failure stops the pipeline with what to do next (exit 10 + the step; 10 when the
# Databricks CLI is missing). Re-running on a deployed app is
# safe: every step is idempotent (bundle deploy converges, create-database and migrate skip
# what exists, grants are re-applied).
#
#   TARGET=dev|prod       bundle target (default dev)
#   BRAVE_SCOPE=scope     secret scope with the Brave key (default: the bundle's)
#   DRY_RUN=1             print the commands instead of running them
#   DATABRICKS=path       the Databricks CLI (default: databricks on PATH)
#   DRA=path              the dra binary for steps 3-7 (default: the static one step 1
#                         builds on Linux x86_64, or DRA_BINARY when step 1 packages that
#                         one; elsewhere `dra` on PATH, from make install)
#   BUILD_CMD="..."       step 1's command (default: make build)
#   INSTANCE, DATABASE, APP_NAME   Lakebase instance, database and app base name
#   WAIT_RETRIES, WAIT_DELAY       step 3's polling (default 10 attempts, 10s apart)
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET="${TARGET:-dev}"
DATABRICKS="${DATABRICKS:-databricks}"
if [ -z "${DRA:-}" ]; then
  if [ -n "${DRA_BINARY:-}" ]; then
    DRA="$DRA_BINARY"
  elif [ "$(uname -sm)" = "Linux x86_64" ]; then
    DRA="${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-musl/release/dra"
  else
    # The bundle's binary does not run here (macOS, arm64): the host's, from `make install`.
    DRA=dra
  fi
fi
INSTANCE="${INSTANCE:-deep-research-lakebase}"
DATABASE="${DATABASE:-deep_research}"
APP="${APP_NAME:-deep-research-agent}-${TARGET}"
PROFILE_ARGS=()
[ -n "${PROFILE:-}" ] && PROFILE_ARGS=(--profile "$PROFILE")
VARS=()
[ -n "${BRAVE_SCOPE:-}" ] && VARS+=(--var "brave_secret_scope=${BRAVE_SCOPE}")

# Before the build (minutes): the CLI the bundle steps need.
if [ -z "${DRY_RUN:-}" ] && ! command -v "$DATABRICKS" >/dev/null 2>&1; then
  echo "preflight: the Databricks CLI ($DATABRICKS) is not installed or not on PATH" >&2
  echo "next: install it (https://docs.databricks.com/dev-tools/cli/install.html) and log in (databricks auth login), or set DATABRICKS=/path/to/databricks" >&2
  exit 10
fi

step=0
run_step() {
  local name="$1" next="$2"
  shift 2
  step=$((step + 1))
  echo "[$step/8] $name"
  if [ -n "${DRY_RUN:-}" ]; then
    echo "      $(printf '%q ' "$@")"
    return 0
  fi
  if "$@"; then
    echo "[$step/8] $name: ok"
  else
    local rc=$?
    echo "[$step/8] $name: FAILED (exit $rc)" >&2
    echo "next: $next" >&2
    echo "then re-run: make deploy TARGET=$TARGET${BRAVE_SCOPE:+ BRAVE_SCOPE=$BRAVE_SCOPE} (finished steps are skipped or repeated safely)" >&2
    exit $((10 + step))
  fi
}

# shellcheck disable=SC2086 # BUILD_CMD is a command line
run_step "Build the app bundle" \
  "fix the build (cargo build --release), then re-run" \
  ${BUILD_CMD:-make build}
run_step "Deploy the bundle (Lakebase instance; app on database postgres)" \
  "check the Databricks CLI login (databricks auth profiles) and the bundle (databricks bundle validate -t $TARGET)" \
  "$DATABRICKS" bundle deploy -t "$TARGET" "${PROFILE_ARGS[@]}" --var lakebase_database=postgres "${VARS[@]}"
run_step "Wait for Lakebase instance $INSTANCE" \
  "see the instance's state in the workspace (Compute > Database instances); wait-lakebase says the last state it saw" \
  "$DRA" "${PROFILE_ARGS[@]}" wait-lakebase --instance "$INSTANCE" \
    --retries "${WAIT_RETRIES:-10}" --delay "${WAIT_DELAY:-10s}"
run_step "Create database $DATABASE" \
  "check that your user may create databases on $INSTANCE" \
  "$DRA" "${PROFILE_ARGS[@]}" create-database --instance "$INSTANCE" --database "$DATABASE"
run_step "Deploy the bundle with database $DATABASE" \
  "databricks bundle validate -t $TARGET; the database resource needs $DATABASE to exist" \
  "$DATABRICKS" bundle deploy -t "$TARGET" "${PROFILE_ARGS[@]}" --var "lakebase_database=$DATABASE" "${VARS[@]}"
run_step "Apply migrations (your credentials)" \
  "dra migrate --instance $INSTANCE --database $DATABASE prints the failing migration" \
  env LAKEBASE_DATABASE="$DATABASE" "$DRA" "${PROFILE_ARGS[@]}" migrate --instance "$INSTANCE"
run_step "Grant the app's service principal" \
  "the app $APP must exist with a service principal (databricks apps get $APP)" \
  "$DRA" "${PROFILE_ARGS[@]}" grant-permissions --instance "$INSTANCE" --database "$DATABASE" --app "$APP"
run_step "Start or restart the app" \
  "databricks apps get $APP shows why; make logs TARGET=$TARGET prints its logs" \
  "$DATABRICKS" bundle run -t "$TARGET" "${PROFILE_ARGS[@]}" deep_research_agent
if [ -n "${DRY_RUN:-}" ]; then
  echo "dry run: nothing was run"
else
  echo "deployed: $APP"
fi
