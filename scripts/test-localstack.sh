#!/usr/bin/env bash
# `make test-localstack`: the pytest suite against LocalStack 4.9.2 (host mode, no Docker) for
# SQS/SNS/S3/SES/Secrets Manager/STS/IAM and a moto server for DynamoDB (LocalStack cannot fetch
# DynamoDB Local offline). Both are started on free ports here and stopped at the end, whatever
# the outcome. PYTEST_ARGS narrows the run, e.g.
#   make test-localstack PYTEST_ARGS="tests/terraform tests/integration/test_bootstrap.py"
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
LOCALSTACK_PORT="${LOCALSTACK_PORT:-$(free_port)}"
MOTO_PORT="${MOTO_PORT:-$(free_port)}"
RUN_DIR="${RUN_DIR:-.run/localstack}"
mkdir -p "$RUN_DIR"

LOCALSTACK_PID=""
MOTO_PID=""
stop() {
  # Only the two processes started here, by PID.
  if [ -n "$MOTO_PID" ]; then kill "$MOTO_PID" 2>/dev/null || true; fi
  if [ -n "$LOCALSTACK_PID" ]; then kill "$LOCALSTACK_PID" 2>/dev/null || true; fi
  if [ -n "$MOTO_PID" ]; then wait "$MOTO_PID" 2>/dev/null || true; fi
  if [ -n "$LOCALSTACK_PID" ]; then
    for _ in $(seq 1 20); do kill -0 "$LOCALSTACK_PID" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$LOCALSTACK_PID" 2>/dev/null || true
  fi
}
trap stop EXIT
trap "exit 130" INT TERM  # so the EXIT trap runs on Ctrl-C or kill too

LOCALSTACK_PID="$(LOCALSTACK_LOG="$RUN_DIR/localstack.log" \
  FILESYSTEM_ROOT="$(mktemp -d /tmp/localstack-fs-XXXXXX)" \
  scripts/localstack-start.sh "$LOCALSTACK_PORT" | tail -n 1)"

"$VENV/bin/leadmagnet" moto --port "$MOTO_PORT" >"$RUN_DIR/moto.log" 2>&1 &
MOTO_PID=$!
for _ in $(seq 1 60); do
  if curl -s -o /dev/null "http://127.0.0.1:$MOTO_PORT/"; then break; fi
  kill -0 "$MOTO_PID" 2>/dev/null || { echo "moto server exited; see $RUN_DIR/moto.log" >&2; exit 1; }
  sleep 0.5
done

export AWS_ENDPOINT_URL="http://127.0.0.1:$LOCALSTACK_PORT"
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$MOTO_PORT"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
echo "test-localstack: AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL (LocalStack 4.9.2)" \
  "AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB (moto)"
# shellcheck disable=SC2086  # PYTEST_ARGS is a list of arguments
"$VENV/bin/pytest" ${PYTEST_ARGS:-}
