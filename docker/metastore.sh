#!/bin/sh
# The metastore container's command. `reelhouse metastore start` starts PostgreSQL in the background
# (REELHOUSE_METASTORE_DATABASE=postgres) and returns, but a container lives only as long as its
# first process: this one stays while the server runs, and on `docker compose stop` shuts it down.
set -e
reelhouse metastore start
trap 'reelhouse metastore stop; exit 0' TERM INT
tail -n +1 -F "$REELHOUSE_HOME/_metastore/postgres.log" &
# `sleep & wait`: a signal interrupts the wait at once, so the trap runs without delay
while reelhouse metastore status >/dev/null; do
    sleep 10 &
    wait $!
done
echo "metastore: PostgreSQL exited; see $REELHOUSE_HOME/_metastore/postgres.log" >&2
exit 1
