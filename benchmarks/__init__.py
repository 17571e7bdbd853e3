"""Benchmarks: kwire against a real Apache Kafka (KRaft, single node) on the same machine.

`python -m benchmarks.run` starts each broker in turn (fresh data dir per
repetition), drives the same load generators against it (Kafka's own
ProducerPerformance / ConsumerPerformance from the Maven Central jars and a
librdkafka load generator, `benchmarks/loadgen_rdkafka.py`), and writes
`docs/benchmarks.md` plus its chart. `--smoke` is the few-seconds, kwire-only
version CI runs so the harness cannot rot. See docs/benchmarks.md for method.

Modules: `brokers` (start/stop/RSS of kwire and Kafka, start-up to first
acknowledged produce), `javatools` (Kafka's perf tools), `loadgen_rdkafka`
(confluent-kafka producer/consumer/e2e-latency CLI), `scenarios` (what is
measured, the metric catalogue), `report` (markdown + PNG), `profile_kwire`
(py-spy self-time profile of kwire under load), `run` (the command).
"""
