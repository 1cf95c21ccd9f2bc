"""actd's log lines: message first, then the record's own fields as key=value."""

from __future__ import annotations

import logging

from actframework.logs import KeyValueFormatter


def _format(**extra: object) -> str:
    record = logging.makeLogRecord({"msg": "request", "levelname": "INFO", "name": "actframework.server"})
    record.__dict__.update(extra)
    return KeyValueFormatter("%(levelname)s %(name)s %(message)s").format(record)


def test_fields_follow_the_message_and_values_with_spaces_are_quoted() -> None:
    line = _format(route="/jobs", status=200, dn="/DC=org/CN=A User")
    assert line == 'INFO actframework.server request route=/jobs status=200 dn="/DC=org/CN=A User"'


def test_uvicorns_coloured_copy_of_the_message_is_left_out() -> None:
    assert _format(color_message="\x1b[36mrequest\x1b[0m") == "INFO actframework.server request"


def test_a_connection_lost_on_its_return_to_the_pool_is_one_warning_line(capsys: pytest.CaptureFixture[str]) -> None:
    from actframework import logs

    logs.configure("info")
    try:
        raise ConnectionError("Lost connection to MySQL server during query")
    except ConnectionError:
        logging.getLogger("sqlalchemy.pool.impl.QueuePool").error("Exception during reset or similar", exc_info=True)
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    assert "WARNING sqlalchemy.pool.impl.QueuePool" in err and "Lost connection to MySQL server" in err
