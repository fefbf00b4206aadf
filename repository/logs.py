"""Logs a machine can read: one JSON object per line on standard error.

A production server's logs go to a collector (journald, Loki, Elasticsearch) that indexes
fields, so each line carries its fields as JSON rather than prose: the time, level, logger
and process, and for a request its method, path, status, duration and request id. For a
person at a terminal ``REPOSITORY_LOG_FORMAT=text`` gives the same fields as plain lines.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

#: The fields a log call may add with ``extra=``, in the order they are written.
FIELDS = ("method", "path", "query", "status", "ms", "bytes", "remote", "user", "request_id", "agent")


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "msg": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """The same fields as ``name=value`` after the message, for reading at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(
            f"{name}={getattr(record, name)}" for name in FIELDS if getattr(record, name, None) is not None
        )
        line = super().format(record)
        return f"{line} {fields}" if fields else line


def formatter_class() -> str:
    """The dotted name of the formatter ``REPOSITORY_LOG_FORMAT`` (json, the default, or text) picks."""
    kind = os.environ.get("REPOSITORY_LOG_FORMAT", "json").strip().lower()
    return f"{__name__}.{'TextFormatter' if kind == 'text' else 'JsonFormatter'}"


def level() -> str:
    return os.environ.get("REPOSITORY_LOG_LEVEL", "INFO").strip().upper() or "INFO"


def config_dict() -> dict:
    """A :func:`logging.config.dictConfig` for a server: everything to stderr, formatted as set."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": formatter_class()}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "default", "stream": sys.stderr}
        },
        "root": {"level": level(), "handlers": ["stderr"]},
        # gunicorn's own messages (start, worker boot and exit) in the same form; its access log is
        # off: the app writes one line per request with more in it (repository.access).
        "loggers": {
            "gunicorn.error": {"level": level(), "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
        },
    }


def configure() -> None:
    """Set up logging for a server process the operator started some other way (``wsgi.py``)."""
    import logging.config

    logging.config.dictConfig(config_dict())
