"""aCT download lists (``downloadfiles``) as fetch instructions.

The session selection is checked by walking a session tree exactly as
:func:`actframework.arc.transfer.fetch_jobs` does: list the root, take each
file whose relative path the pattern fully matches, and descend only into
directories whose path *with a trailing slash* it matches. So a nested
path is only reached when its parent directories match too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Union

import pytest

from actframework.arc.downloads import downloads_for, fetch_for, with_failure_diagnose
from actframework.arc.rest import DIAGNOSE_FILES
from actframework.arc.transfer import DEFAULT_DIAGNOSE_DIR, Fetch

Tree = dict[str, Union["Tree", None]]

#: A job session: files map to None, directories to their entries.
SESSION: Tree = {
    "out.txt": None,
    "out.txt.bak": None,
    "outXtxt": None,
    "err.txt": None,
    "d": {"a.txt": None, "e": {"f.txt": None, "g": {"h.txt": None}}, "out.txt": None},
    "d.txt": None,
    "dx": {"y.txt": None},
    "gmlog": {"errors": None},
}

DESTINATION = Path("/results/abc")


def downloaded(fetch: Fetch, tree: Tree = SESSION) -> list[str]:
    """The session files a fetch downloads (fetch_jobs's walk, without the CE)."""

    def wanted(relative: str) -> bool:
        return fetch.pattern is None or fetch.pattern.fullmatch(relative) is not None

    found: list[str] = []

    def walk(prefix: str, entries: Tree) -> None:
        for name, below in entries.items():
            if below is None:
                if wanted(prefix + name):
                    found.append(prefix + name)
            elif wanted(f"{prefix}{name}/"):
                walk(f"{prefix}{name}/", below)

    walk("", tree)
    return sorted(found)


ALL_FILES = ["d.txt", "d/a.txt", "d/e/f.txt", "d/e/g/h.txt", "d/out.txt", "dx/y.txt", "err.txt",
             "gmlog/errors", "out.txt", "out.txt.bak", "outXtxt"]


# --------------------------------------------------------------------------- what handover stores


@pytest.mark.parametrize(("gmlog", "downloads"), [
    (None, "/"), ("", "/"), ("/", "/"), ("gmlog", "/;diagnose=gmlog/"), ("/gmlog/", "/;diagnose=gmlog/"),
    ("logs/arc", "/;diagnose=logs/arc/"),
])
def test_downloads_for_takes_everything_plus_diagnose_files_into_gmlog(gmlog: str | None, downloads: str) -> None:
    assert downloads_for(gmlog) == downloads


def test_what_handover_stores_fetches_everything_and_puts_diagnose_files_in_gmlog() -> None:
    fetch = fetch_for("abc", DESTINATION, downloads_for("joblog"))
    assert downloaded(fetch) == ALL_FILES
    assert (fetch.diagnose_dir, tuple(fetch.diagnose or ())) == ("joblog", DIAGNOSE_FILES)


# --------------------------------------------------------------------------- the whole session


@pytest.mark.parametrize("downloads", ["/", None, "", "out.txt;/", "/;d/e/f.txt"])
def test_slash_or_nothing_takes_the_whole_session(downloads: str | None) -> None:
    fetch = fetch_for("abc", DESTINATION, downloads)
    assert fetch.pattern is None
    assert downloaded(fetch) == ALL_FILES
    assert tuple(fetch.diagnose or ()) == ()


def test_the_fetch_names_the_job_and_its_destination() -> None:
    fetch = fetch_for("abc", DESTINATION, "/")
    assert (fetch.job_id, fetch.destination) == ("abc", DESTINATION)


# --------------------------------------------------------------------------- selected paths


def test_a_file_entry_takes_exactly_that_file() -> None:
    fetch = fetch_for("abc", DESTINATION, "out.txt")
    assert downloaded(fetch) == ["out.txt"]  # not out.txt.bak, outXtxt (a '.' is literal) or d/out.txt
    assert fetch.pattern is not None
    assert not fetch.pattern.fullmatch("d/")


def test_a_leading_slash_and_surrounding_spaces_are_ignored() -> None:
    assert downloaded(fetch_for("abc", DESTINATION, "/out.txt")) == ["out.txt"]
    assert downloaded(fetch_for("abc", DESTINATION, " out.txt ; err.txt ;")) == ["err.txt", "out.txt"]


def test_a_directory_entry_takes_everything_below_it() -> None:
    fetch = fetch_for("abc", DESTINATION, "d/")
    assert downloaded(fetch) == ["d/a.txt", "d/e/f.txt", "d/e/g/h.txt", "d/out.txt"]
    assert fetch.pattern is not None
    assert fetch.pattern.fullmatch("d/") and fetch.pattern.fullmatch("d/e/g/")
    assert not fetch.pattern.fullmatch("dx/") and not fetch.pattern.fullmatch("d.txt")


def test_a_nested_file_matches_its_parent_directories_and_nothing_else_in_them() -> None:
    fetch = fetch_for("abc", DESTINATION, "d/e/f.txt")
    assert downloaded(fetch) == ["d/e/f.txt"]
    assert fetch.pattern is not None
    for parent in ("d/", "d/e/"):
        assert fetch.pattern.fullmatch(parent), f"{parent} must match, or the walk never reaches the file"
    assert not fetch.pattern.fullmatch("d/e/g/")
    assert not fetch.pattern.fullmatch("d/a.txt")


def test_a_nested_directory_takes_everything_below_it_only() -> None:
    fetch = fetch_for("abc", DESTINATION, "d/e/")
    assert downloaded(fetch) == ["d/e/f.txt", "d/e/g/h.txt"]


def test_several_entries_add_up() -> None:
    fetch = fetch_for("abc", DESTINATION, "out.txt;d/e/f.txt;dx/")
    assert downloaded(fetch) == ["d/e/f.txt", "dx/y.txt", "out.txt"]


def test_regex_characters_in_names_are_literal() -> None:
    tree: Tree = {"a+b(1).txt": None, "aab(1).txt": None, "x[y]": {"z": None}, "xy": {"z": None}}
    assert downloaded(fetch_for("abc", DESTINATION, "a+b(1).txt;x[y]/"), tree) == ["a+b(1).txt", "x[y]/z"]


# --------------------------------------------------------------------------- diagnose files


@pytest.mark.parametrize("downloads", ["/", "out.txt;d/", None])
def test_without_a_diagnose_entry_no_diagnose_files_are_fetched(downloads: str | None) -> None:
    assert tuple(fetch_for("abc", DESTINATION, downloads).diagnose or ()) == ()


@pytest.mark.parametrize(("downloads", "completed"), [
    ("/", "/;diagnose=gmlog/"), (None, "/;diagnose=gmlog/"), ("", "/;diagnose=gmlog/"),
    ("out.txt;d/", "out.txt;d/;diagnose=gmlog/"),
])
def test_a_failed_jobs_list_without_diagnose_gets_all_diagnose_files_into_gmlog(
    downloads: str | None, completed: str
) -> None:
    assert with_failure_diagnose(downloads) == completed
    fetch = fetch_for("abc", DESTINATION, completed)
    assert tuple(fetch.diagnose or ()) == DIAGNOSE_FILES
    assert fetch.diagnose_dir == DEFAULT_DIAGNOSE_DIR == "gmlog"
    # ... and the session selection is the same as before.
    assert downloaded(fetch) == downloaded(fetch_for("abc", DESTINATION, downloads))


@pytest.mark.parametrize("downloads", ["/;diagnose=joblog/", "out.txt; diagnose=logs/errors", "diagnose=failed"])
def test_a_failed_jobs_list_that_names_diagnose_files_is_kept(downloads: str) -> None:
    assert with_failure_diagnose(downloads) == downloads


def test_diagnose_into_a_directory_takes_all_diagnose_files_there() -> None:
    fetch = fetch_for("abc", DESTINATION, "out.txt;diagnose=arclog/")
    assert tuple(fetch.diagnose or ()) == DIAGNOSE_FILES
    assert fetch.diagnose_dir == "arclog"
    assert downloaded(fetch) == ["out.txt"]


def test_a_diagnose_entry_alone_takes_no_session_files() -> None:
    fetch = fetch_for("abc", DESTINATION, "diagnose=arclog/")
    assert downloaded(fetch) == []
    assert fetch.pattern is not None and not fetch.pattern.fullmatch("")


def test_diagnose_of_one_file_in_a_directory() -> None:
    fetch = fetch_for("abc", DESTINATION, "d/;diagnose=logs/errors")
    assert (fetch.diagnose_dir, tuple(fetch.diagnose or ())) == ("logs", ("errors",))
    assert downloaded(fetch) == ["d/a.txt", "d/e/f.txt", "d/e/g/h.txt", "d/out.txt"]


def test_diagnose_of_one_file_into_the_session_root() -> None:
    fetch = fetch_for("abc", DESTINATION, "diagnose=failed")
    assert (fetch.diagnose_dir, tuple(fetch.diagnose or ())) == ("", ("failed",))


def test_several_diagnose_files_are_all_taken_once_each_in_order() -> None:
    fetch = fetch_for("abc", DESTINATION, "diagnose=logs/errors;diagnose=logs/failed;diagnose=logs/errors")
    assert (fetch.diagnose_dir, tuple(fetch.diagnose or ())) == ("logs", ("errors", "failed"))


def test_a_diagnose_directory_and_single_files_take_every_file_once() -> None:
    fetch = fetch_for("abc", DESTINATION, "diagnose=logs/errors;diagnose=logs/")
    assert fetch.diagnose_dir == "logs"
    assert sorted(fetch.diagnose or ()) == sorted(DIAGNOSE_FILES)


@pytest.mark.parametrize("downloads", ["/;diagnose=gmlog", downloads_for("log;x")])
def test_a_name_that_is_no_diagnose_file_is_skipped(downloads: str) -> None:
    fetch = fetch_for("abc", DESTINATION, downloads)
    assert set(fetch.diagnose or ()) <= set(DIAGNOSE_FILES)


def test_the_pattern_is_a_compiled_regex_or_none() -> None:
    assert isinstance(fetch_for("abc", DESTINATION, "out.txt").pattern, re.Pattern)
    assert fetch_for("abc", DESTINATION, "/").pattern is None
