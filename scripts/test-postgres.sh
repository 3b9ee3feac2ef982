#!/usr/bin/env bash
# A throwaway PostgreSQL server for castbridge's cluster tests, in a temporary folder, on a loopback port.
#
#   eval "$(scripts/test-postgres.sh start)"   # starts it (or finds it running) and exports CASTBRIDGE_TEST_POSTGRES
#   swift test                                  # the PostgreSQL tests now run instead of skipping
#   scripts/test-postgres.sh stop               # stops it and removes its folder
#
# Needs PostgreSQL's server binaries (Debian: apt-get install postgresql). PostgreSQL refuses to run as root: as
# root, the server runs as the `postgres` user. Nothing here is for production: fsync is off, and the password is
# the user name.
set -euo pipefail

command=${1:-start}
dir=${CASTBRIDGE_TEST_PG_DIR:-/tmp/castbridge-test-postgres}
port=${CASTBRIDGE_TEST_PG_PORT:-54329}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ] && command -v pg_ctl >/dev/null; then bin=$(dirname "$(command -v pg_ctl)"); fi
if [ -z "$bin" ]; then
    echo "PostgreSQL's server binaries are not installed (Debian: apt-get install postgresql)" >&2
    exit 1
fi

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

url="postgres://castbridge:castbridge@127.0.0.1:${port}/castbridge"
case "$command" in
start)
    if [ -f "$dir/data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        echo "export CASTBRIDGE_TEST_POSTGRES=$url"
        exit 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    echo castbridge > "$dir/password"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir/password"
    as_owner "$bin/initdb" -D "$dir/data" -U castbridge --pwfile="$dir/password" --auth=scram-sha-256 -E UTF8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" >/dev/null ||
        { cat "$dir/server.log" >&2; exit 1; }
    PGPASSWORD=castbridge "$bin/psql" -h 127.0.0.1 -p "$port" -U castbridge -d postgres -qc "CREATE DATABASE castbridge" >/dev/null
    echo "export CASTBRIDGE_TEST_POSTGRES=$url"
    ;;
stop)
    if [ -d "$dir/data" ]; then as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
