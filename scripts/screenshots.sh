#!/usr/bin/env bash
# README's screenshots (docs/screenshots/): the demo (`verdict demo`, with the tiny model's
# training run) on a fresh database, served by the given `verdict` binary, photographed by
# end2end/tests/zz-screenshots.spec.ts in Debian's chromium.
#
#   scripts/screenshots.sh TARGET/release/verdict     (needs DATABASE_URL; `make test` runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VERDICT="$1"
: "${DATABASE_URL:?DATABASE_URL names the PostgreSQL cluster to use}"
WORK="$(mktemp -d /tmp/verdict-screenshots.XXXXXX)"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

db=verdict_screenshots
psql -X -q "$DATABASE_URL" -c "drop database if exists $db" -c "create database $db"
url="${DATABASE_URL%/*}/$db"
password="shots-$RANDOM-$RANDOM-password"
printf '%s\n' "$password" | "$VERDICT" --database-url "$url" user create --role admin \
  --username admin --password-stdin >/dev/null
"$VERDICT" model init-tiny --out "$WORK/tiny-demo" >/dev/null
"$VERDICT" --database-url "$url" model add-local --name tiny-demo --path "$WORK/tiny-demo" \
  --max-tokens 24 >/dev/null
"$VERDICT" --database-url "$url" demo --runs-dir "$WORK/runs"

port=""
for p in $(seq 3600 3999); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port="$p"; break; fi
done
[ -n "$port" ] || { echo "no free port in 3600-3999" >&2; exit 1; }
LEPTOS_SITE_ROOT="$ROOT/target/site" LEPTOS_OUTPUT_NAME=verdict LEPTOS_ENV=PROD \
  "$VERDICT" --database-url "$url" serve --addr "127.0.0.1:$port" --workers 0 \
  --runs-dir "$WORK/runs" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
if ! (cd end2end && BASE_URL="http://127.0.0.1:$port" E2E_SCREENSHOTS=1 E2E_ADMIN_USER=admin \
      E2E_ADMIN_PASSWORD="$password" npx playwright test tests/zz-screenshots.spec.ts); then
  echo "--- server log (last 40 lines) ---"; tail -40 "$WORK/server.log"
  exit 1
fi
ls -l docs/screenshots
