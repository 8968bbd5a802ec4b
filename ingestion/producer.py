"""Kafka side of the load generator: sends generated chunks with kafka-python.

Chunks are made by `ingestion.generator.generate_chunk` in a worker process while this
process sends, so generation and sending overlap on two cores. Messages are keyed by
user_id; the partition is computed once per key with Kafka's own murmur2 partitioner.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace

from foundation.errors import ReelhouseError
from foundation.kafka_connection import KafkaConnection, as_connection
from ingestion.generator import Chunk, GeneratorOptions, generate_chunk

PRODUCER_CONFIG = {
    "acks": "all",
    "enable_idempotence": True,  # a retried batch is not written twice
    "linger_ms": 20,
    "batch_size": 256 * 1024,
    "compression_type": "lz4",
    "max_request_size": 8 * 1024 * 1024,
    "max_block_ms": 15_000,  # how long a missing topic or a full buffer may block a send
}
SETTLE_SECONDS = 30.0  # after `flush`, how long the last acknowledgements or refusals may take to arrive
SETTLE_POLL_SECONDS = 0.01
LIVE_CHUNK_SECONDS = 0.1  # live events are stamped when their chunk is made: keep chunks short


@dataclass
class ProduceReport:
    sent: int = 0  # handed to the producer; after `produce` returns, every one acknowledged by the broker
    malformed: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    incident_started_at: float | None = None  # epoch seconds when event number `incident_from` was sent

    @property
    def events_per_second(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


class Deliveries:
    """Counts what the broker acknowledged and what failed, and keeps the first refusal: a send is only
    a hand-over, what was not acknowledged was not delivered.

    `done` and `failed` run once per record, on the producer's IO thread or, for a future already
    settled when its callback is attached, on the sender's: a plain lock keeps the counts exact; a
    condition's wake-up per record cost 10-15 % of the send rate, so the sender polls once at the end."""

    def __init__(self):
        self.acknowledged = 0
        self.failures = 0
        self.first_error: BaseException | None = None
        self._lock = threading.Lock()

    def done(self, _metadata) -> None:
        with self._lock:
            self.acknowledged += 1

    def failed(self, error: BaseException) -> None:
        with self._lock:
            self.failures += 1
            self.first_error = self.first_error or error

    def wait_settled(self, sent: int, timeout: float) -> bool:
        """Wait until each of `sent` sends was acknowledged or failed: `flush` can give up (kafka-python's
        "Future not done") before the IO thread has reported the refusals."""
        deadline = time.monotonic() + timeout
        while self.acknowledged + self.failures < sent:
            if time.monotonic() >= deadline:
                return False
            time.sleep(SETTLE_POLL_SECONDS)
        return True


def iter_chunks(options: GeneratorOptions, workers: int) -> Iterator[Chunk]:
    """Chunks in order; made ahead by `workers` processes (0: in this process)."""
    if workers <= 0 or options.chunks < 2:
        for index in range(options.chunks):
            yield generate_chunk(options, index)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        ahead = workers * 2
        futures = [pool.submit(generate_chunk, options, i) for i in range(min(ahead, options.chunks))]
        for index in range(options.chunks):
            chunk = futures[index].result()
            futures[index] = None  # free the chunk once sent
            if index + ahead < options.chunks:
                futures.append(pool.submit(generate_chunk, options, index + ahead))
            yield chunk


class Progress:
    """A one-line progress bar on a terminal; a line every 10 % otherwise (CI logs)."""

    def __init__(self, total: int, stream=sys.stderr, enabled: bool = True):
        self.total, self.stream, self.enabled = total, stream, enabled
        self.started = time.monotonic()
        self.last_draw = 0.0
        self.last_decile = -1
        self.tty = enabled and stream.isatty()

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        rate = done / max(now - self.started, 1e-9)
        if self.tty:
            if now - self.last_draw < 0.2 and done < self.total:
                return
            self.last_draw = now
            filled = int(30 * done / max(1, self.total))
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done:,}/{self.total:,} "
                              f"events  {rate:,.0f} ev/s")
            if done >= self.total:
                self.stream.write("\n")
        else:
            decile = 10 * done // max(1, self.total)
            if decile > self.last_decile:
                self.last_decile = decile
                self.stream.write(f"produced {done:,}/{self.total:,} events ({rate:,.0f} ev/s)\n")
        self.stream.flush()


def produce(
    options: GeneratorOptions,
    kafka: KafkaConnection | str,
    topic: str,
    rate: float = 0.0,
    workers: int = 1,
    progress: Progress | None = None,
) -> ProduceReport:
    """Send `options.events` messages to `topic`; `rate` events/s (0 = as fast as possible)."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError
    from kafka.partitioner.default import murmur2

    connection = as_connection(kafka)
    try:
        producer = KafkaProducer(**connection.client_options(), **PRODUCER_CONFIG)
    except KafkaError as error:
        login = (f" as {connection.user} over TLS (check REELHOUSE_KAFKA_PASSWORD_FILE {connection.password_file} "
                 f"and REELHOUSE_KAFKA_CA_FILE {connection.ca_file})") if connection.secured else ""
        raise ReelhouseError(f"cannot connect to Kafka at {connection.bootstrap_servers}{login}: {error}") from error
    report = ProduceReport()
    deliveries = Deliveries()
    if options.start is None and rate > 0:
        # so that an event's time is when it was sent, give or take a tenth of a second
        options = replace(options, chunk_size=max(1, int(rate * LIVE_CHUNK_SECONDS)))
    try:
        partitions = sorted(producer.partitions_for(topic))
        partition_of: dict[bytes, int] = {}
        started = time.monotonic()
        for chunk in iter_chunks(options, workers if rate == 0 else 0):
            for key, value in chunk.messages:
                partition = partition_of.get(key)
                if partition is None:
                    # what Kafka's default partitioner does, once per key
                    partition = partition_of[key] = partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]
                if options.incident and report.sent == options.incident_from:
                    report.incident_started_at = time.time()
                producer.send(topic, key=key, value=value, partition=partition) \
                    .add_callback(deliveries.done).add_errback(deliveries.failed)
                report.sent += 1
                if rate > 0:
                    lag = report.sent / rate - (time.monotonic() - started)
                    if lag > 0:
                        time.sleep(lag)
            for kind, count in chunk.malformed.items():
                report.malformed[kind] = report.malformed.get(kind, 0) + count
            if progress:
                progress.update(report.sent)
        flush_error: KafkaError | None = None
        try:
            producer.flush()
        except KafkaError as error:
            flush_error = error
        deliveries.wait_settled(report.sent, SETTLE_SECONDS)
        report.seconds = time.monotonic() - started
        if deliveries.acknowledged < report.sent:  # refused by the broker, or timed out: not sent
            reason = deliveries.first_error or flush_error or "no acknowledgement"
            raise ReelhouseError(f"{report.sent - deliveries.acknowledged:,} of {report.sent:,} events were not "
                                 f"delivered to {topic!r}: {reason}")
    except KafkaError as error:
        hint = f" (does topic {topic!r} exist? `reelhouse kafka start` creates it)" if not report.sent else ""
        raise ReelhouseError(f"sending to Kafka failed after {report.sent:,} events were handed to the producer: "
                             f"{error}{hint}") from error
    finally:
        producer.close()
    return report
