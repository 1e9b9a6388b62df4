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
SCHEMATHESIS_VERSION=4.32.5
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="$TARGET_DIR/schemathesis-$SCHEMATHESIS_VERSION"
if [ ! -x "$VENV/bin/schemathesis" ]; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

source scripts/test-server.sh
fresh_database verdict_schemathesis
create_admin st-admin
psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -f end2end/fixtures/seed.sql
# No training in this process (launched runs stay queued), and no per-client limits, so that
# the cases reach the handlers; 429 itself is covered by server/tests/hardening.rs.
serve --workers 0 --rate-new-annotators 0 --rate-battles 0 --rate-judgements 0
base="$BASE_URL"

cookie="$(curl -fsS -o /dev/null -D - --data-urlencode username=st-admin \
  --data-urlencode "password=$ADMIN_PASSWORD" "$base/api/login" |
  sed -n 's/^[Ss]et-[Cc]ookie: \(verdict_session=[^;]*\).*/\1/p' | head -1)"
[ -n "$cookie" ] || { echo "schemathesis: could not log in as st-admin" >&2; exit 1; }

status=0
# From the scratch folder, where schemathesis leaves its cache. One worker: with two, the
# threads' hypothesis strategies parse lambda sources concurrently, and CPython 3.11's `ast`
# then fails at random ("AST constructor recursion depth mismatch", a runtime error of the tool,
# not of the API).
(cd "$WORK" && "$VENV/bin/schemathesis" run "$base/api/v1/openapi.json" \
  --header "Cookie: $cookie" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-50}" \
  --seed "${SCHEMATHESIS_SEED:-20261204}" --request-timeout 30 --workers 1 \
  --generation-database none --no-color) || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log (last 40 lines) ---"
  tail -40 "$WORK/server.log"
fi
exit "$status"
