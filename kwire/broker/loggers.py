"""The BROKER_LOGGER config resource: kwire's Python loggers under Kafka's level
names, read and changed at run time as Kafka's LoggingController does for log4j
(changes last until restart, as in Kafka)."""

from __future__ import annotations

import logging

from kwire.errors import ErrorCode

ROOT = "root"
# Kafka's (log4j's) levels; TRACE below DEBUG, FATAL is Python's CRITICAL.
TRACE = 5
_TO_PYTHON = {"TRACE": TRACE, "DEBUG": logging.DEBUG, "INFO": logging.INFO,
              "WARN": logging.WARNING, "ERROR": logging.ERROR, "FATAL": logging.CRITICAL}
_FROM_PYTHON = {v: k for k, v in _TO_PYTHON.items()}
SET, DELETE = 0, 1


class LoggerError(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def _level_name(level: int) -> str:
    for value in sorted(_FROM_PYTHON):
        if level <= value:
            return _FROM_PYTHON[value]
    return "FATAL"


def _logger(name: str) -> logging.Logger | None:
    if name == ROOT:
        return logging.getLogger()
    existing = logging.Logger.manager.loggerDict.get(name)
    return existing if isinstance(existing, logging.Logger) else None


def levels() -> list[tuple[str, str]]:
    """(logger name, effective level) for the root logger and every kwire logger."""
    names = sorted(n for n, lg in logging.Logger.manager.loggerDict.items()
                   if isinstance(lg, logging.Logger) and n.split(".")[0] == "kwire")
    out = [(ROOT, _level_name(logging.getLogger().getEffectiveLevel()))]
    for name in names:
        out.append((name, _level_name(logging.getLogger(name).getEffectiveLevel())))
    return out


def alter(ops: list[tuple[str, int, str | None]], validate_only: bool) -> None:
    """RuntimeLoggerManager: check every operation, then apply them all."""
    changes: list[tuple[logging.Logger, int]] = []
    for name, op, value in ops:
        if op not in (SET, DELETE):
            what = {2: "APPEND", 3: "SUBTRACT"}.get(op)
            raise LoggerError(ErrorCode.INVALID_REQUEST, (
                f"{what} operation is not allowed for the BROKER_LOGGER resource" if what
                else f"Unknown operation type {op} is not allowed for the BROKER_LOGGER "
                     "resource"))
        if op == DELETE and name == ROOT:
            raise LoggerError(ErrorCode.INVALID_REQUEST,
                              "Removing the log level of the root logger is not allowed")
        logger = _logger(name)
        if logger is None:
            raise LoggerError(ErrorCode.INVALID_CONFIG, f"Logger {name} does not exist!")
        if op == SET:
            if value not in _TO_PYTHON:
                raise LoggerError(ErrorCode.INVALID_CONFIG, (
                    f"Cannot set the log level of {name} to {value} as it is not a supported "
                    "log level. Valid log levels are DEBUG, ERROR, FATAL, INFO, TRACE, WARN"))
            changes.append((logger, _TO_PYTHON[value]))
        else:
            changes.append((logger, logging.NOTSET))  # inherit the parent's level again
    if not validate_only:
        for logger, level in changes:
            logger.setLevel(level)
