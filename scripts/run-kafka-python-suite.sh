#!/usr/bin/env bash
# Run kafka-python 3.0.12's own integration suite (from its PyPI sdist, cached
# under ${KWIRE_CACHE:-~/.cache/kwire}) with its output on the terminal, against a
# kwire this script starts (with the settings of the suite's own broker fixture),
# the reference Kafka from the jars (--broker kafka), or any broker (--bootstrap).
# Ends with the counts and every difference from the EXPECTED_FAILURES list in
# compat-tests/test_kafka_python_suite.py (exit 1 if any).
#
# usage: scripts/run-kafka-python-suite.sh [--bootstrap HOST:PORT | --broker kafka] [--keep]
#                                          [extra pytest args for the suite, e.g. -k test_group]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
if [[ -x .venv/bin/python && -z "${PYTHON:-}" ]]; then PY=.venv/bin/python; fi
exec "$PY" compat-tests/test_kafka_python_suite.py "$@"
