#!/bin/sh
# Entry point of every reelhouse container. A Spark driver (the stream, the monitor, the SQL
# endpoint, `reelhouse dbt`...) tells the executors on other containers where to reach it:
# by default the reverse lookup of its hostname, a container id other containers may not
# resolve. Its own IP address always works on the compose network.
if [ -z "${SPARK_LOCAL_HOSTNAME:-}" ]; then
    SPARK_LOCAL_HOSTNAME=$(hostname -i | cut -d' ' -f1)
    export SPARK_LOCAL_HOSTNAME
fi
# The Spark master and workers take the cluster's spark.authenticate secret from Spark's own
# variable (drivers read REELHOUSE_SPARK_SECRET_FILE): from the compose secret, never an argument
if [ -z "${_SPARK_AUTH_SECRET:-}" ] && [ -r /run/secrets/spark_secret ]; then
    _SPARK_AUTH_SECRET=$(cat /run/secrets/spark_secret)
    export _SPARK_AUTH_SECRET
fi
exec "$@"
