#!/usr/bin/env bash
# Property-based tests of the REST API against its own OpenAPI document, with schemathesis
# (PyPI, pinned): a server of the given `verdict` binary on a fresh database with the
# end-to-end seed data, an admin session, a bounded number of cases per operation. Fails on any
# 5xx, an undocumented status, a wrong content type or an answer off its schema.
#
#   scripts/schemathesis.sh TARGET/release/verdict     (needs DATABASE_URL; `make test` runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VERDICT="$1"
: "${DATABASE_URL:?DATABASE_URL names the PostgreSQL cluster to use}"
SCHEMATHESIS_VERSION=4.32.5
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="$TARGET_DIR/schemathesis-$SCHEMATHESIS_VERSION"
if [ ! -x "$VENV/bin/schemathesis" ]; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

WORK="$(mktemp -d /tmp/verdict-schemathesis.XXXXXX)"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

db=verdict_schemathesis
psql -X -q "$DATABASE_URL" -c "drop database if exists $db" -c "create database $db"
url="${DATABASE_URL%/*}/$db"
password="st-$RANDOM-$RANDOM-password"
printf '%s\n' "$password" | "$VERDICT" --database-url "$url" user create --role admin \
  --username st-admin --password-stdin >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$url" -f end2end/fixtures/seed.sql

port=""
for p in $(seq 3400 3999); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port="$p"; break; fi
done
[ -n "$port" ] || { echo "no free port in 3400-3999" >&2; exit 1; }
base="http://127.0.0.1:$port"
# No training in this process (launched runs stay queued), and no per-client limits, so that
# the cases reach the handlers; 429 itself is covered by server/tests/hardening.rs.
LEPTOS_SITE_ROOT="$ROOT/target/site" LEPTOS_OUTPUT_NAME=verdict LEPTOS_ENV=PROD \
  "$VERDICT" --database-url "$url" serve --addr "127.0.0.1:$port" --workers 0 \
  --runs-dir "$WORK/runs" --rate-new-annotators 0 --rate-battles 0 --rate-judgements 0 \
  >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  sleep 0.1
done

cookie="$(curl -fsS -o /dev/null -D - --data-urlencode username=st-admin \
  --data-urlencode "password=$password" "$base/api/login" |
  sed -n 's/^[Ss]et-[Cc]ookie: \(verdict_session=[^;]*\).*/\1/p' | head -1)"
[ -n "$cookie" ] || { echo "schemathesis: could not log in as st-admin" >&2; exit 1; }

status=0
# From the scratch folder, where schemathesis leaves its cache.
(cd "$WORK" && "$VENV/bin/schemathesis" run "$base/api/v1/openapi.json" \
  --header "Cookie: $cookie" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-50}" \
  --seed "${SCHEMATHESIS_SEED:-20261204}" --request-timeout 30 --workers 2 \
  --generation-database none --no-color) || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log (last 40 lines) ---"
  tail -40 "$WORK/server.log"
fi
exit "$status"
