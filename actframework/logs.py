"""Log lines of actd: one line per event, with its fields as ``key=value``.

``log.info("request", extra={"route": ..., "status": ...})`` renders as
``... INFO actframework.server request route=/jobs status=200``, which is easy
to read and to grep or parse. Callers never pass secrets (tokens, keys,
proxies) as fields.
"""

from __future__ import annotations

import logging

# Fields every record has, and uvicorn's terminal-coloured copy of its message.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class KeyValueFormatter(logging.Formatter):
    """Appends a record's extra fields to the message as ``key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if fields:
            line += " " + " ".join(f"{k}={_quote(v)}" for k, v in fields.items())
        return line


def _quote(value: object) -> str:
    text = str(value)
    return f'"{text}"' if (" " in text or not text) else text


def configure(level: str = "info") -> None:
    """Log to stderr at ``level`` with :class:`KeyValueFormatter`."""
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(_quiet_pool_reset)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def _quiet_pool_reset(record: logging.LogRecord) -> bool:
    """SQLAlchemy's pool logs a traceback when a connection it takes back
    cannot be rolled back because the database went away: the store already
    reports the outage once, and the pool drops that connection, so one
    line says it without the traceback."""
    if record.name.startswith("sqlalchemy.pool") and record.exc_info and "during reset" in str(record.msg):
        error = record.exc_info[1]
        record.msg = "a database connection was dropped on its return to the pool: %s"
        record.args = (error,)
        record.exc_info = None
        record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
    return True
