"""kwire: a Kafka-compatible broker written in Python."""
