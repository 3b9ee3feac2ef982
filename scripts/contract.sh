#!/usr/bin/env bash
# Tests Docs/openapi.yaml against a live castbridge with schemathesis (from PyPI, in .build/schemathesis):
# no 5xx, no crash, every status, content type and body as documented. Bounded in time.
#
#   scripts/contract.sh [SECONDS]    (default 60; castbridge from .build/debug, built by `swift build`)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
if [ ! -x .build/schemathesis/bin/schemathesis ]; then
  python3 -m venv .build/schemathesis
  .build/schemathesis/bin/pip install -q schemathesis
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.build/debug/castbridge serve --port "$port" --store memory --log-level error > .build/contract-server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/health" > /dev/null && break
  sleep 0.1
done
status=0
.build/schemathesis/bin/schemathesis run Docs/openapi.yaml --url "http://127.0.0.1:$port" \
  -c not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-time "$seconds" --exclude-path /admin/api/stream --request-timeout 10 -w 2 || status=$?
if ! kill -0 $server 2>/dev/null; then
  echo "contract: castbridge is gone (see .build/contract-server.log)"
  exit 1
fi
exit $status
