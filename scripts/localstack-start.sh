#!/usr/bin/env bash
# Start LocalStack community 4.9.2 on this machine WITHOUT Docker ("host mode"), for compatibility
# runs of the suite (adapted from ../shared/localstack/start.sh; the project owns this copy).
#
#   scripts/localstack-start.sh [PORT]      # default 4566; prints the PID on its last line
#   kill <PID>                              # stop it
#
# Works in host mode: SQS, SNS (SQS fan-out, filter policies, raw delivery), S3 (presigned URLs),
# SES v1, Secrets Manager, STS. Not DynamoDB: LocalStack downloads DynamoDB Local at run time,
# so keep DynamoDB on a moto server with AWS_ENDPOINT_URL_DYNAMODB (scripts/test-localstack.sh).
# Newer LocalStack releases need Python >= 3.12 and an auth token; 4.9.2 needs neither.
# The first run installs localstack-core into $LOCALSTACK_VENV from PyPI.
set -euo pipefail
PORT="${1:-4566}"
PYTHON="${PYTHON:-python3}"
VENV="${LOCALSTACK_VENV:-$HOME/.cache/localstack-host-4.9.2}"
LOG="${LOCALSTACK_LOG:-/tmp/localstack-$PORT.log}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import localstack.aws.components" 2>/dev/null; then
  echo "localstack-start: installing localstack-core 4.9.2 into $VENV" >&2
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check \
    "localstack-core[runtime]==4.9.2" "cbor2<5.7" "cryptography<44" "pyopenssl<24.3" \
    "service_identity<24.3" "joserfc<1.1" 2>&1 | grep -v -E "^WARNING|dependency resolver|requires" >&2 || true
fi
export GATEWAY_LISTEN="127.0.0.1:$PORT"
export SERVICES="${LOCALSTACK_SERVICES:-sqs,sns,s3,ses,secretsmanager,sts,iam}"
export LOCALSTACK_HOST="127.0.0.1:$PORT"
export DNS_ADDRESS=0 SKIP_SSL_CERT_DOWNLOAD=1 DISABLE_EVENTS=1
export FILESYSTEM_ROOT="${FILESYSTEM_ROOT:-/tmp/localstack-fs-$PORT}"
mkdir -p "$FILESYSTEM_ROOT"
nohup "$VENV/bin/python" -m localstack.runtime.main >"$LOG" 2>&1 &
PID=$!
for _ in $(seq 1 90); do
  if curl -fs "http://127.0.0.1:$PORT/_localstack/health" >/dev/null 2>&1; then
    echo "LocalStack 4.9.2 (host mode) ready on http://127.0.0.1:$PORT  log: $LOG" >&2
    echo "$PID"
    exit 0
  fi
  if ! kill -0 "$PID" 2>/dev/null; then echo "LocalStack exited; see $LOG" >&2; tail -20 "$LOG" >&2; exit 1; fi
  sleep 1
done
echo "LocalStack did not become ready in 90 s; see $LOG" >&2
kill "$PID" 2>/dev/null || true
exit 1
