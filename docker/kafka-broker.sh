#!/usr/bin/env bash
# The entrypoint of compose.yaml's Kafka brokers (the apache/kafka image; its own run script follows).
# SCRAM logins over TLS: before the node's first start, its storage is formatted with the SCRAM
# credential of the Kafka user, read from a secret. The arguments go through a 0600 argument file
# (`java @file`), never a command line. The broker's own login (JAAS) and the healthcheck's client
# config are written 0600 in a 0700 folder of the container's temporary storage. The BROKER_*
# variables move its paths (tests/docker/ runs it outside the image).
set -euo pipefail
umask 077

user=${REELHOUSE_KAFKA_USER:-reelhouse}
password=$(<"${BROKER_PASSWORD_FILE:-/run/secrets/kafka_password}")
secrets=${BROKER_SECRETS_DIR:-/etc/kafka/secrets}
private=${BROKER_PRIVATE_DIR:-/tmp/reelhouse-kafka}
mkdir -p "$private"
chmod 700 "$private"
login="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$user\" password=\"$password\";"

printf 'KafkaServer {\n  %s\n};\n' "$login" > "$private/jaas.conf"
cat > "$private/client.properties" <<PROPERTIES
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=$login
ssl.truststore.type=PEM
ssl.truststore.location=$secrets/ca.pem
PROPERTIES

if [[ ! -e "$KAFKA_LOG_DIRS/meta.properties" ]]; then
  cat > "$private/format.properties" <<PROPERTIES
process.roles=$KAFKA_PROCESS_ROLES
node.id=$KAFKA_NODE_ID
controller.quorum.voters=$KAFKA_CONTROLLER_QUORUM_VOTERS
controller.listener.names=$KAFKA_CONTROLLER_LISTENER_NAMES
listeners=$KAFKA_LISTENERS
advertised.listeners=$KAFKA_ADVERTISED_LISTENERS
listener.security.protocol.map=$KAFKA_LISTENER_SECURITY_PROTOCOL_MAP
inter.broker.listener.name=$KAFKA_INTER_BROKER_LISTENER_NAME
sasl.enabled.mechanisms=$KAFKA_SASL_ENABLED_MECHANISMS
sasl.mechanism.inter.broker.protocol=$KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL
log.dirs=$KAFKA_LOG_DIRS
PROPERTIES
  printf '%s\n' kafka.tools.StorageTool format --cluster-id "$CLUSTER_ID" --config "$private/format.properties" \
    --ignore-formatted --add-scram "SCRAM-SHA-512=[name=$user,password=$password]" > "$private/format.args"
  status=0
  java -cp "${BROKER_KAFKA_HOME:-/opt/kafka}/libs/*" "@$private/format.args" || status=$?
  rm -f "$private/format.args" "$private/format.properties"
  [[ $status -eq 0 ]] || exit "$status"
fi

export KAFKA_OPTS="${KAFKA_OPTS:+$KAFKA_OPTS }-Djava.security.auth.login.config=$private/jaas.conf"
exec "${BROKER_RUN:-/etc/kafka/docker/run}" "$@"
