"""Command line: `kwire serve [--host H] [--port P] [--data-dir D] [--config FILE]
[--set key=value ...]` → Config → app.run()."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from kwire.broker.topic_config import check_broker_defaults
from kwire.config import Config, ConfigError, load_config
from kwire.config.types import ConfigException


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kwire", description="A Kafka-compatible broker.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run a single-node broker")
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default 9092; 0 picks a free one)")
    serve.add_argument("--data-dir", help="log directory (default ./kwire-data)")
    serve.add_argument("--config", type=Path, help="a Kafka server.properties file")
    serve.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override one property; repeatable")
    serve.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser


def load_broker_config(path: Path | None, overrides: dict[str, str], host: str | None = None,
                       port: int | None = None, data_dir: str | None = None) -> Config:
    """`load_config`, then the start-up check Kafka makes once topic configs exist:
    it builds the default topic LogConfig from the broker's synonyms and refuses to
    start if one is invalid as a topic config (log.flush.interval.ms=-1 fails as
    flush.ms). Done here, not in config.py, because topic configs are defined on
    top of the broker's properties and settings never import what they configure."""
    config = load_config(path, overrides, host, port, data_dir)
    try:
        check_broker_defaults(config)
    except ConfigException as exc:
        raise ConfigError(str(exc)) from None
    return config


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    overrides: dict[str, str] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            print(f"kwire: --set expects KEY=VALUE, got {item!r}", file=sys.stderr)
            return 2
        overrides[key.strip()] = value
    try:
        config = load_broker_config(args.config, overrides, args.host, args.port, args.data_dir)
    except ConfigError as exc:
        print(f"kwire: {exc}", file=sys.stderr)
        return 2
    from kwire.app import run

    return run(config)


if __name__ == "__main__":
    sys.exit(main())
