# Sourced (not run) by the scripts that test a server of their own on a fresh database
# (schemathesis.sh, screenshots.sh): a scratch folder, the database, an admin, a free port and
# the server, all cleaned up on exit. Needs ROOT, VERDICT (the binary) and DATABASE_URL.

: "${DATABASE_URL:?DATABASE_URL names the PostgreSQL cluster to use}"
WORK="$(mktemp -d "/tmp/verdict-$(basename "$0" .sh).XXXXXX")"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# fresh_database NAME: drops and creates NAME beside $DATABASE_URL; sets DB_URL.
fresh_database() {
  psql -X -q "$DATABASE_URL" -c "drop database if exists $1" -c "create database $1"
  DB_URL="${DATABASE_URL%/*}/$1"
}

# create_admin USERNAME: an admin with a random password in $DB_URL; sets ADMIN_PASSWORD.
create_admin() {
  ADMIN_PASSWORD="test-$RANDOM-$RANDOM-password"
  printf '%s\n' "$ADMIN_PASSWORD" | "$VERDICT" --database-url "$DB_URL" user create \
    --role admin --username "$1" --password-stdin >/dev/null
}

# serve ARGS...: `verdict serve` on $DB_URL at a free port from 3400 up, with the built site,
# logging to $WORK/server.log; waits until /healthz answers; sets BASE_URL and SERVER_PID.
serve() {
  local port="" p
  for p in $(seq 3400 3999); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port="$p"; break; fi
  done
  [ -n "$port" ] || { echo "no free port in 3400-3999" >&2; return 1; }
  BASE_URL="http://127.0.0.1:$port"
  LEPTOS_SITE_ROOT="$ROOT/target/site" LEPTOS_OUTPUT_NAME=verdict LEPTOS_ENV=PROD \
    "$VERDICT" --database-url "$DB_URL" serve --addr "127.0.0.1:$port" --runs-dir "$WORK/runs" \
    "$@" >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    curl -fsS "$BASE_URL/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; return 1; }
    sleep 0.1
  done
  echo "the server at $BASE_URL did not answer /healthz" >&2
  return 1
}
