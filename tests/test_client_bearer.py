"""WLCG Bearer Token Discovery in the client: the places in their order,
and clear errors that never show the token."""

from __future__ import annotations

from pathlib import Path

import pytest

from actframework.client.bearer import discover_token
from actframework.errors import ConfigError

UID = 4242


@pytest.fixture(autouse=True)
def no_default_token_file() -> None:
    if Path(f"/tmp/bt_u{UID}").exists():
        pytest.fail(f"/tmp/bt_u{UID} exists; the tests need it absent")


def test_the_variable_wins_over_every_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("from-file\n")
    found = discover_token({"BEARER_TOKEN": " from-variable\n", "BEARER_TOKEN_FILE": str(tmp_path / "file")}, UID)
    assert (found.token, found.source) == ("from-variable", "$BEARER_TOKEN")


def test_the_token_file_variable_comes_before_the_runtime_dir(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("from-file\n")
    (tmp_path / f"bt_u{UID}").write_text("from-runtime-dir\n")
    found = discover_token({"BEARER_TOKEN_FILE": str(tmp_path / "file"), "XDG_RUNTIME_DIR": str(tmp_path)}, UID)
    assert (found.token, found.source) == ("from-file", str(tmp_path / "file"))


def test_the_runtime_dir_file_is_found_without_variables_naming_it(tmp_path: Path) -> None:
    (tmp_path / f"bt_u{UID}").write_text("eyJ.runtime.token")
    assert discover_token({"XDG_RUNTIME_DIR": str(tmp_path)}, UID).token == "eyJ.runtime.token"


def test_empty_variables_count_as_unset(tmp_path: Path) -> None:
    (tmp_path / f"bt_u{UID}").write_text("eyJ.runtime.token")
    found = discover_token({"BEARER_TOKEN": "  ", "BEARER_TOKEN_FILE": "", "XDG_RUNTIME_DIR": str(tmp_path)}, UID)
    assert found.token == "eyJ.runtime.token"


def test_a_missing_named_token_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BEARER_TOKEN_FILE names .* which does not exist"):
        discover_token({"BEARER_TOKEN_FILE": str(tmp_path / "gone")}, UID)


def test_nothing_found_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        discover_token({"XDG_RUNTIME_DIR": str(tmp_path)}, UID)
    message = str(caught.value)
    assert "$BEARER_TOKEN" in message and str(tmp_path / f"bt_u{UID}") in message and f"/tmp/bt_u{UID}" in message


def test_a_file_of_several_words_is_refused_without_showing_them(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("secret-one secret-two\n")
    with pytest.raises(ConfigError) as caught:
        discover_token({"BEARER_TOKEN_FILE": str(tmp_path / "file")}, UID)
    assert "more than one word" in str(caught.value) and "secret" not in str(caught.value)


def test_the_token_is_not_in_the_repr() -> None:
    found = discover_token({"BEARER_TOKEN": "eyJ.secret.token"}, UID)
    assert "eyJ.secret.token" not in repr(found)
