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
source scripts/test-server.sh
fresh_database verdict_screenshots
create_admin admin
"$VERDICT" model init-tiny --out "$WORK/tiny-demo" >/dev/null
"$VERDICT" --database-url "$DB_URL" model add-local --name tiny-demo --path "$WORK/tiny-demo" \
  --max-tokens 24 >/dev/null
"$VERDICT" --database-url "$DB_URL" demo --runs-dir "$WORK/runs"
serve --workers 0
if ! (cd end2end && BASE_URL="$BASE_URL" E2E_SCREENSHOTS=1 E2E_ADMIN_USER=admin \
      E2E_ADMIN_PASSWORD="$ADMIN_PASSWORD" npx playwright test tests/zz-screenshots.spec.ts); then
  echo "--- server log (last 40 lines) ---"; tail -40 "$WORK/server.log"
  exit 1
fi
ls -l docs/screenshots
