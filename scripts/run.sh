#!/usr/bin/env bash
# Sets up a fresh Debian machine (scripts/setup.sh), builds the release app and serves it at
# http://127.0.0.1:3000 on the embedded PostgreSQL in ./verdict-data (or $DATABASE_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/tools/node_modules/.bin:$PATH"
exec cargo leptos serve --release
