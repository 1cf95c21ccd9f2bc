"""The REST server's job operations, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import timedelta

import pytest

from actframework.db import CancelOutcome, CleanOutcome, Confirmation, JobFilter, JobStore, parse_id_list
from actframework.db.filters import IdSelection
from actframework.db.schema import ARC_JOB_ATTRIBUTE_NAMES, arcjobs, clientjobs, jobdescriptions
from actframework.errors import InvalidColumnError, StoreError

from fixtures.databases import Clock, Seeder

CE = "https://ce.example.org:443/batch"
OTHER = 2  # another user's proxyid


def ids(text: str) -> JobFilter:
    return JobFilter(ids=parse_id_list(text))


# --------------------------------------------------------------------------- create / confirm


def test_create_returns_ids_in_input_order(store: JobStore, seed: Seeder, clock: Clock) -> None:
    lists = [[CE], [CE, "https://ce2.example.org:443/q"], ["https://ce3.example.org:443/x"]] * 40
    created = store.create_client_jobs(1, lists)
    assert len(created) == 120 and created == sorted(created)
    for client_id, clusters in zip(created[:3], lists[:3], strict=True):
        row = seed.get(clientjobs, client_id)
        assert row["clusterlist"] == ",".join(clusters)
        assert row["proxyid"] == 1
        assert row["created"] == row["modified"] == clock()
        assert row["jobdesc"] is None and row["arcjobid"] is None


def test_create_without_ordered_bulk_returning_inserts_row_by_row(
    store: JobStore, seed: Seeder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Databases whose INSERT ... RETURNING cannot be batched in a guaranteed
    order (MySQL proper) still get the ids in input order."""
    monkeypatch.setattr(store.engine.dialect, "insert_executemany_returning_sort_by_parameter_order", False)
    lists = [[f"https://ce{n}.example.org:443/q"] for n in range(5)]
    created = store.create_client_jobs(1, lists)
    assert [seed.get(clientjobs, job)["clusterlist"] for job in created] == [lst[0] for lst in lists]


def test_create_nothing(store: JobStore) -> None:
    assert store.create_client_jobs(1, []) == []


def test_create_rejects_comma_in_cluster_and_overlong_lists(store: JobStore, seed: Seeder) -> None:
    with pytest.raises(StoreError, match="comma"):
        store.create_client_jobs(1, [["https://a,b"]])
    with pytest.raises(StoreError, match="1024"):
        store.create_client_jobs(1, [[CE] * 40])
    assert seed.count(clientjobs) == 0


def test_confirm_sets_description_only_for_own_unhanded_jobs(store: JobStore, seed: Seeder) -> None:
    mine = store.create_client_jobs(1, [[CE], [CE]])
    theirs = store.create_client_jobs(OTHER, [[CE]])
    handed = seed.user_jobs(["tosubmit"])
    result = store.confirm_client_jobs(1, [
        Confirmation(mine[1], "second", "&(executable=b)"),
        Confirmation(theirs[0], "stolen", "&(executable=x)"),
        Confirmation(mine[0], None, "&(executable=a)"),
        Confirmation(handed[0], "late", "&(executable=late)"),
        Confirmation(999_999, "missing", "&(executable=m)"),
    ])
    assert result == [True, False, True, False, False]
    assert seed.get(clientjobs, mine[1])["jobname"] == "second"
    assert seed.get(clientjobs, mine[1])["jobdesc"] == "&(executable=b)"
    assert seed.get(clientjobs, mine[0])["jobdesc"] == "&(executable=a)"
    assert seed.get(clientjobs, theirs[0])["jobdesc"] is None
    assert seed.get(clientjobs, handed[0])["jobname"] == "job0"


def test_confirm_keeps_large_descriptions(store: JobStore, seed: Seeder) -> None:
    (job,) = store.create_client_jobs(1, [[CE]])
    text = "&(executable=run.sh)" + "(arguments=" + "x" * 200_000 + ")"
    assert store.confirm_client_jobs(1, [Confirmation(job, "big", text)]) == [True]
    assert seed.get(clientjobs, job)["jobdesc"] == text


def test_confirm_rejects_overlong_name(store: JobStore) -> None:
    (job,) = store.create_client_jobs(1, [[CE]])
    with pytest.raises(StoreError, match="255"):
        store.confirm_client_jobs(1, [Confirmation(job, "n" * 256, "&(executable=a)")])


def test_owned_client_job_ids(store: JobStore) -> None:
    mine = store.create_client_jobs(1, [[CE], [CE]])
    theirs = store.create_client_jobs(OTHER, [[CE]])
    assert store.owned_client_job_ids(1, [*mine, *theirs, 424242]) == set(mine)
    assert store.owned_client_job_ids(1, []) == set()


def test_owned_client_job_ids_outside_the_id_range_are_nobodys(store: JobStore) -> None:
    mine = store.create_client_jobs(1, [[CE]])
    assert store.owned_client_job_ids(1, [*mine, -1, 2**31, 2**63, 2**121]) == set(mine)
    assert store.owned_client_job_ids(1, [-(2**70), 2**70]) == set()


def test_id_selections_outside_the_id_range_match_nothing(store: JobStore) -> None:
    [mine] = store.create_client_jobs(1, [[CE]])
    huge = IdSelection(singles=(-1, 2**70), ranges=((2**40, 2**70), (-(2**70), -5)))
    assert store.select_jobs(1, JobFilter(ids=huge), ["id"], []) == []
    clamped = IdSelection(ranges=((-(2**70), 2**70),))
    assert store.select_jobs(1, JobFilter(ids=clamped), ["id"], []) == [{"c_id": mine}]


# --------------------------------------------------------------------------- select


def test_column_names_in_table_order(store: JobStore) -> None:
    names = store.column_names()
    assert names["client"] == ["id", "modified", "created", "jobname", "jobdesc",
                               "clusterlist", "arcjobid", "proxyid"]
    assert names["arc"][:4] == ["id", "modified", "created", "arcstate"]
    assert names["arc"][-53:] == list(ARC_JOB_ATTRIBUTE_NAMES)


def test_select_prefixes_keys_and_left_joins(store: JobStore, seed: Seeder) -> None:
    bare, running = seed.user_jobs([None, "running"], JobID="https://ce/arex/rest/1.0/jobs/abc")
    rows = store.select_jobs(1, JobFilter(), ["id", "jobname"], ["arcstate", "JobID"])
    assert rows == [
        {"c_id": bare, "c_jobname": "job0", "a_arcstate": None, "a_JobID": None},
        {"c_id": running, "c_jobname": "job1", "a_arcstate": "running",
         "a_JobID": "https://ce/arex/rest/1.0/jobs/abc"},
    ]


def test_select_with_state_filter_inner_joins(store: JobStore, seed: Seeder) -> None:
    _, running, _ = seed.user_jobs([None, "running", "done"])
    rows = store.select_jobs(1, JobFilter(state="running"), ["id"], [])
    assert rows == [{"c_id": running}]


def test_select_empty_state_is_no_filter(store: JobStore, seed: Seeder) -> None:
    seed.user_jobs([None, "running"])
    assert len(store.select_jobs(1, JobFilter(state=""), ["id"], [])) == 2


def test_select_only_arc_columns(store: JobStore, seed: Seeder) -> None:
    seed.user_jobs(["done"])
    assert store.select_jobs(1, JobFilter(), [], ["arcstate"]) == [{"a_arcstate": "done"}]


def test_a_listing_in_pages_holds_every_job_once_in_id_order(store: JobStore, seed: Seeder) -> None:
    ids = seed.user_jobs([None, "running", "done", None, "failed"])
    pages = list(store.iter_job_pages(1, JobFilter(), ["id"], ["arcstate"], page_size=2))
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [row["c_id"] for page in pages for row in page] == sorted(ids)
    assert all(set(row) == {"c_id", "a_arcstate"} for page in pages for row in page)


def test_a_paged_listing_checks_its_columns_before_reading(store: JobStore) -> None:
    with pytest.raises(InvalidColumnError):
        store.iter_job_pages(1, JobFilter(), ["id", "nosuchcolumn"], [])


def test_select_without_columns_is_empty(store: JobStore, seed: Seeder) -> None:
    seed.user_jobs([None])
    assert store.select_jobs(1, JobFilter(), [], []) == []


@pytest.mark.parametrize(("client", "arc", "bad"), [
    (["id", "nosuch"], [], "nosuch"),
    ([], ["jobid"], "jobid"),  # column names are case-sensitive: JobID
    (["arcstate"], [], "arcstate"),  # an arc column asked from clientjobs
])
def test_select_unknown_column(store: JobStore, client: list[str], arc: list[str], bad: str) -> None:
    with pytest.raises(InvalidColumnError) as raised:
        store.select_jobs(1, JobFilter(), client, arc)
    assert str(raised.value) == f'Invalid column "{bad}"'


def test_select_id_ranges(store: JobStore, seed: Seeder) -> None:
    jobs = seed.user_jobs([None] * 10)
    text = f"{jobs[0]},{jobs[3]}-{jobs[5]}, {jobs[9]}"
    rows = store.select_jobs(1, ids(text), ["id"], [])
    assert [row["c_id"] for row in rows] == [jobs[0], jobs[3], jobs[4], jobs[5], jobs[9]]
    assert store.select_jobs(1, JobFilter(ids=parse_id_list("")), ["id"], []) == []


def test_name_filter_is_a_literal_case_sensitive_substring(store: JobStore, seed: Seeder) -> None:
    names = ["100%_done", "100x_done", "1000done", "Sim_A", "sim_a", "simXa"]
    jobs = dict(zip(names, seed.user_jobs([None] * len(names), names=names), strict=True))

    def names_matching(text: str) -> list[str]:
        rows = store.select_jobs(1, JobFilter(name=text), ["jobname"], [])
        return [row["c_jobname"] for row in rows]

    assert names_matching("0%_") == ["100%_done"]
    assert names_matching("%") == ["100%_done"]
    assert names_matching("_") == ["100%_done", "100x_done", "Sim_A", "sim_a"]
    assert names_matching("sim_") == ["sim_a"]
    assert names_matching("Sim") == ["Sim_A"]
    assert names_matching("SIM") == []
    assert len(jobs) == 6


def test_select_is_isolated_per_user(store: JobStore, seed: Seeder) -> None:
    mine = seed.user_jobs(["running"])
    seed.user_jobs(["running", None], proxyid=OTHER)
    assert store.select_jobs(1, JobFilter(), ["id"], []) == [{"c_id": mine[0]}]
    assert store.select_jobs(3, JobFilter(), ["id"], []) == []


# --------------------------------------------------------------------------- cancel


def test_cancel_semantics_per_state(store: JobStore, seed: Seeder, clock: Clock) -> None:
    states = [None, "tosubmit", "submitting", "submitted", "running", "finished", "done"]
    jobs = dict(zip(states, seed.user_jobs(states), strict=True))
    arc_of = {state: seed.get(clientjobs, job)["arcjobid"] for state, job in jobs.items()}
    desc_of_tosubmit = seed.get(arcjobs, arc_of["tosubmit"])["jobdesc"]
    clock.advance(minutes=3)

    outcomes = store.cancel_jobs(1, JobFilter())

    assert outcomes == [
        CancelOutcome(jobs[None], None, None, True),
        CancelOutcome(jobs["tosubmit"], arc_of["tosubmit"], "tosubmit", True),
        CancelOutcome(jobs["submitting"], arc_of["submitting"], "submitting", True),
        CancelOutcome(jobs["submitted"], arc_of["submitted"], "submitted", False),
        CancelOutcome(jobs["running"], arc_of["running"], "running", False),
    ]
    # Not handed over: client row gone. tosubmit: all three rows gone.
    assert seed.row(clientjobs, jobs[None]) is None
    assert seed.row(clientjobs, jobs["tosubmit"]) is None
    assert seed.row(arcjobs, arc_of["tosubmit"]) is None
    assert seed.row(jobdescriptions, desc_of_tosubmit) is None
    # In flight: tocancel for the engine, client row kept.
    for state in ("submitting", "submitted", "running"):
        arc = seed.get(arcjobs, arc_of[state])
        assert arc["arcstate"] == "tocancel"
        assert arc["tarcstate"] == clock()
        assert seed.row(clientjobs, jobs[state]) is not None
    # Not cancellable through the API.
    assert seed.get(arcjobs, arc_of["finished"])["arcstate"] == "finished"
    assert seed.get(arcjobs, arc_of["done"])["arcstate"] == "done"


@pytest.mark.parametrize("state", ["submitted", "running", "tosubmit", "submitting"])
def test_cancel_with_state_filter_takes_only_that_state(store: JobStore, seed: Seeder, state: str) -> None:
    jobs = seed.user_jobs([None, "tosubmit", "submitting", "submitted", "running"])
    outcomes = store.cancel_jobs(1, JobFilter(state=state))
    assert [outcome.arcstate_before for outcome in outcomes] == [state]
    assert seed.row(clientjobs, jobs[0]) is not None  # bare job untouched (INNER JOIN)


@pytest.mark.parametrize("state", ["done", "finished", "cancelling", "bogus"])
def test_cancel_with_other_state_filter_does_nothing(store: JobStore, seed: Seeder, state: str) -> None:
    seed.user_jobs([None, "running", state if state != "bogus" else "failed"])
    assert store.cancel_jobs(1, JobFilter(state=state)) == []
    assert seed.count(clientjobs) == 3


def test_cancel_is_isolated_per_user(store: JobStore, seed: Seeder) -> None:
    theirs = seed.user_jobs([None, "running", "tosubmit"], proxyid=OTHER)
    mine = seed.user_jobs(["running"])
    outcomes = store.cancel_jobs(1, JobFilter())
    assert [outcome.client_id for outcome in outcomes] == mine
    for job in theirs:
        assert seed.row(clientjobs, job) is not None
    other_arc = seed.get(clientjobs, theirs[1])["arcjobid"]
    assert seed.get(arcjobs, other_arc)["arcstate"] == "running"


def test_cancel_with_id_and_name_filters(store: JobStore, seed: Seeder) -> None:
    jobs = seed.user_jobs(["running"] * 4, names=["a1", "a2", "b1", "b2"])
    outcomes = store.cancel_jobs(1, JobFilter(ids=parse_id_list(f"{jobs[1]}-{jobs[3]}"), name="2"))
    assert [outcome.client_id for outcome in outcomes] == [jobs[1], jobs[3]]


def test_cancel_of_job_whose_arc_row_vanished_deletes_client_row(store: JobStore, seed: Seeder) -> None:
    (job,) = seed.user_jobs(["toclean"])
    store.delete_arc_jobs([seed.get(clientjobs, job)["arcjobid"]])
    assert store.cancel_jobs(1, JobFilter()) == [CancelOutcome(job, None, None, True)]
    assert seed.row(clientjobs, job) is None


def test_cancel_keeps_an_engine_lease(store: JobStore, seed: Seeder) -> None:
    (job,) = seed.user_jobs(["tosubmit"], clusterlist=CE)
    (claimed,) = store.claim_for_submit(CE, 10, "submitter-1", timedelta(minutes=10))
    store.cancel_jobs(1, JobFilter())
    row = seed.get(arcjobs, claimed.id)
    assert row["arcstate"] == "tocancel" and row["claimedby"] == "submitter-1"
    assert job


# --------------------------------------------------------------------------- fetch / resubmit


def test_fetch_moves_only_failed_jobs(store: JobStore, seed: Seeder, clock: Clock) -> None:
    jobs = seed.user_jobs(["failed", "done", "running", None, "failed"], claimedby="dead",
                          claimeduntil=clock() + timedelta(hours=1))
    clock.advance(seconds=30)
    assert store.fetch_jobs(1, JobFilter(state="running")) == [jobs[0], jobs[4]]  # state ignored
    arc = seed.get(arcjobs, seed.get(clientjobs, jobs[0])["arcjobid"])
    assert arc["arcstate"] == "tofetch" and arc["tarcstate"] == clock()
    assert arc["claimedby"] is None  # stale lease on a terminal row is cleared
    assert seed.get(arcjobs, seed.get(clientjobs, jobs[1])["arcjobid"])["arcstate"] == "done"
    assert store.fetch_jobs(1, JobFilter()) == []


def test_resubmit_moves_failed_and_donefailed(store: JobStore, seed: Seeder) -> None:
    jobs = seed.user_jobs(["failed", "donefailed", "done", "cancelled"])
    assert store.resubmit_jobs(1, JobFilter()) == jobs[:2]
    for job in jobs[:2]:
        assert seed.get(arcjobs, seed.get(clientjobs, job)["arcjobid"])["arcstate"] == "toresubmit"


def test_fetch_and_resubmit_are_isolated_per_user(store: JobStore, seed: Seeder) -> None:
    theirs = seed.user_jobs(["failed", "donefailed"], proxyid=OTHER)
    assert store.fetch_jobs(1, JobFilter()) == []
    assert store.resubmit_jobs(1, JobFilter()) == []
    assert store.resubmit_jobs(OTHER, ids(str(theirs[1]))) == [theirs[1]]


# --------------------------------------------------------------------------- clean


def test_clean_semantics(store: JobStore, seed: Seeder, clock: Clock) -> None:
    states = ["done", "donefailed", "cancelled", "failed", "lost", "running", "finished", None]
    jobs = dict(zip(states, seed.user_jobs(states, IDFromEndpoint="ce-id"), strict=True))
    arc_of = {state: seed.get(clientjobs, job)["arcjobid"] for state, job in jobs.items()}
    outcomes = store.clean_jobs(1, JobFilter())
    cleaned = ["done", "donefailed", "cancelled", "failed", "lost"]
    assert outcomes == [CleanOutcome(jobs[s], arc_of[s], s, "ce-id") for s in cleaned]
    for state in cleaned:
        assert seed.row(clientjobs, jobs[state]) is None
        arc = seed.get(arcjobs, arc_of[state])
        assert arc["arcstate"] == "toclean" and arc["tarcstate"] == clock()
        assert arc["claimedby"] is None
    for remaining in ("running", "finished", None):
        assert seed.row(clientjobs, jobs[remaining]) is not None


def test_clean_state_filter(store: JobStore, seed: Seeder) -> None:
    jobs = seed.user_jobs(["done", "failed"])
    assert store.clean_jobs(1, JobFilter(state="running")) == []
    assert store.clean_jobs(1, JobFilter(state="toclean")) == []
    assert [o.client_id for o in store.clean_jobs(1, JobFilter(state="failed"))] == [jobs[1]]


def test_clean_reports_missing_ce_id(store: JobStore, seed: Seeder) -> None:
    (job,) = seed.user_jobs(["cancelled"])
    (outcome,) = store.clean_jobs(1, JobFilter())
    assert outcome.client_id == job and outcome.ce_id is None


def test_clean_is_isolated_per_user(store: JobStore, seed: Seeder) -> None:
    theirs = seed.user_jobs(["done", "failed"], proxyid=OTHER)
    seed.user_jobs(["done"])
    assert len(store.clean_jobs(1, JobFilter())) == 1
    for job in theirs:
        assert seed.row(clientjobs, job) is not None
