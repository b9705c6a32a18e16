#!/bin/sh
# Like the official postgres image's entrypoint, for what faultbox's tests use:
#   POSTGRES_USER (default postgres), POSTGRES_PASSWORD, POSTGRES_DB (default: the user),
#   POSTGRES_HOST_AUTH_METHOD (default here: trust — the official image uses scram-sha-256
#   when a password is set; trust lets the chapter-11 app connect without one).
# A fresh cluster is made in $PGDATA on first start (a fresh container: every test), with
# listen_addresses='*' and wal_level=logical (wal_stream's logical slot needs it; the official
# image's default is replica). `postgres ...` runs as user postgres, exec'd (PID 1).
set -eu
if [ "${1:-}" = postgres ] || [ "${1#-}" != "${1:-}" ]; then
    [ "${1:-}" = postgres ] && shift
    user=${POSTGRES_USER:-postgres}
    db=${POSTGRES_DB:-$user}
    auth=${POSTGRES_HOST_AUTH_METHOD:-trust}
    mkdir -p "$PGDATA" /run/postgresql
    chown postgres:postgres "$PGDATA" /run/postgresql
    chmod 700 "$PGDATA"
    asuser="setpriv --reuid=postgres --regid=postgres --init-groups"
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        pwfile=""
        if [ -n "${POSTGRES_PASSWORD:-}" ]; then
            pwfile=/run/postgresql/pwfile
            printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
            chown postgres "$pwfile"
        fi
        $asuser initdb -D "$PGDATA" -U "$user" -E UTF8 --locale=C --no-sync -A trust \
            ${pwfile:+--pwfile="$pwfile"} >/dev/null
        rm -f /run/postgresql/pwfile
        {
            echo "local all all trust"
            echo "host all all all $auth"
            echo "host replication all all $auth"
        } >"$PGDATA/pg_hba.conf"
        if [ "$db" != postgres ]; then
            echo "CREATE DATABASE \"$db\";" |
                $asuser postgres --single -D "$PGDATA" -c fsync=off postgres >/dev/null
        fi
        echo "entrypoint: initialised $PGDATA (user $user, database $db)"
    fi
    exec $asuser postgres -D "$PGDATA" -c listen_addresses='*' -c wal_level=logical "$@"
fi
exec "$@"
