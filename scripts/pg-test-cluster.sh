#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the test suite and prints its URL:
#   export REALMGATE_TEST_POSTGRES=$(scripts/pg-test-cluster.sh start /tmp/rg-pg)
#   scripts/pg-test-cluster.sh stop /tmp/rg-pg
# Loopback only, trust authentication (the cluster lives and dies with the run; any local
# user may connect as its superuser while it runs, so start it only on a machine whose users
# you trust, as CI's is), fsync off (nothing in it is worth keeping). PostgreSQL refuses to run as root: as root it runs as the
# `postgres` user.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?a directory for the cluster}
# A port of its own unless told: two runs on one machine must not meet.
port=${PGPORT_TEST:-$((40000 + RANDOM % 20000))}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$cmd" in
  start)
    # As root this hands the directory to `postgres`: never through a link planted there.
    if [ -L "$dir" ]; then echo "$dir is a symbolic link; refusing" >&2; exit 1; fi
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown -h postgres "$dir"; fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 >"$dir/initdb.log" 2>&1
    fi
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start -o \
      "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
      >/dev/null
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
