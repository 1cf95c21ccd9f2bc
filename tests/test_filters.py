"""Parsing of user job filters (``--id 1,3,5-9``) and their SQL conditions."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from actframework.db.filters import MAX_ID, IdSelection, JobFilter, id_condition, like_element_pattern, parse_id_list
from actframework.db.schema import clientjobs
from actframework.errors import InvalidFilterError


def test_single_ids_and_inclusive_ranges() -> None:
    selection = parse_id_list("1,3,5-9")
    assert selection.singles == (1, 3)
    assert selection.ranges == ((5, 9),)
    assert all(i in selection for i in (1, 3, 5, 7, 9))
    assert not any(i in selection for i in (2, 4, 10))


def test_whitespace_and_empty_items_are_tolerated() -> None:
    assert parse_id_list(" 1 , ,3 - 4,, ") == IdSelection(singles=(1,), ranges=((3, 4),))


def test_single_element_range_and_duplicates() -> None:
    selection = parse_id_list("5-5,2,2")
    assert selection.singles == (2,)
    assert 5 in selection and 4 not in selection


@pytest.mark.parametrize("text", ["", " ", ",,"])
def test_empty_list_selects_nothing(text: str) -> None:
    selection = parse_id_list(text)
    assert selection.is_empty
    assert 1 not in selection


@pytest.mark.parametrize("item", ["x", "1.5", "+3", "1_000", "٣", "0x10"])
def test_invalid_id_message(item: str) -> None:
    with pytest.raises(InvalidFilterError) as raised:
        parse_id_list(f"1,{item}")
    assert str(raised.value) == f"Invalid job ID: {item}"


@pytest.mark.parametrize("item", ["1-", "-5", "1-2-3", "a-3", "9-5", "1 - x"])
def test_invalid_range_message(item: str) -> None:
    with pytest.raises(InvalidFilterError) as raised:
        parse_id_list(item)
    assert str(raised.value) == f"Invalid job range: {item}"


def test_ids_beyond_the_column_range_match_nothing_and_ranges_are_clamped() -> None:
    selection = parse_id_list(f"{MAX_ID + 1},1-{10**30}")
    assert selection.singles == ()
    assert selection.ranges == ((1, MAX_ID),)


def test_ranges_become_between_not_expanded_in_lists() -> None:
    condition = id_condition(parse_id_list("1-100000,7"), clientjobs.c.id)
    sql = str(condition.compile(dialect=postgresql.dialect()))
    assert "BETWEEN" in sql
    assert sql.count("%(") < 5  # a handful of parameters, not 100000


def test_empty_selection_condition_is_false() -> None:
    sql = str(id_condition(IdSelection(), clientjobs.c.id).compile(dialect=postgresql.dialect()))
    assert sql == "false"


def test_filter_from_strings() -> None:
    flt = JobFilter.from_strings(ids="2-3", name="abc", state="running")
    assert flt.ids == IdSelection(ranges=((2, 3),))
    assert flt.name == "abc" and flt.has_state
    assert not JobFilter(state="").has_state
    assert JobFilter.from_strings().ids is None


def test_empty_name_is_no_condition() -> None:
    assert JobFilter(name="").client_conditions(clientjobs) == []
    assert JobFilter(name=None).client_conditions(clientjobs) == []


def test_name_pattern_escapes_percent_and_underscore() -> None:
    (condition,) = JobFilter(name="50%_a/b").client_conditions(clientjobs)
    compiled = condition.compile(dialect=postgresql.dialect())
    (pattern,) = compiled.params.values()
    assert "ESCAPE '/'" in str(compiled)
    # '/' is the escape character, so the literal '/' is doubled too.
    assert pattern == "50/%/_a//b"


def test_cluster_element_pattern_is_literal() -> None:
    assert like_element_pattern("https://h_1:443/q%") == "%,https:////h/_1:443//q/%,%"


def test_selection_condition_is_sql_usable() -> None:
    # A condition built from a selection binds plain ints.
    condition = id_condition(parse_id_list("3,4-6"), sa.column("id", sa.Integer))
    assert "IN" in str(condition) and "BETWEEN" in str(condition)
