#!/usr/bin/env bash
# One research run against a real MLflow tracking server: installs mlflow from PyPI into
# $CARGO_TARGET_DIR/mlflow-venv (or target/mlflow-venv) on first use, starts `mlflow server`
# with a SQLite store in a temporary directory on a free loopback port, runs the ignored test
# mlflow::a_real_mlflow_server_stores_the_trace against it, and stops the server.
set -euo pipefail

target="${CARGO_TARGET_DIR:-target}"
venv="$target/mlflow-venv"
if [ ! -x "$venv/bin/mlflow" ]; then
  echo "installing mlflow into $venv (first use only)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet mlflow
fi

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$venv/bin/mlflow" server --host 127.0.0.1 --port "$port" \
  --backend-store-uri "sqlite:///$work/mlflow.db" \
  --default-artifact-root "$work/artifacts" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT

url="http://127.0.0.1:$port"
for _ in $(seq 1 120); do
  if curl -fsS "$url/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then cat "$work/server.log" >&2; exit 1; fi
  sleep 1
done
curl -fsS "$url/health" >/dev/null || { echo "mlflow server did not start; its log:" >&2; cat "$work/server.log" >&2; exit 1; }
echo "mlflow $("$venv/bin/mlflow" --version | awk '{print $NF}') at $url" >&2

DRA_REAL_MLFLOW_URL="$url" cargo test --locked --test it -- mlflow::a_real_mlflow_server_stores_the_trace --ignored --exact
