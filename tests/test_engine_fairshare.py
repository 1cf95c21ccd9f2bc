"""Fair share: how a submission cycle's slots are dealt among waiting groups
(pure), and the store's view of the groups (all three databases)."""

from __future__ import annotations

from datetime import timedelta

from actframework.db import JobStore
from actframework.db.records import WaitingGroup
from actframework.engine.fairshare import share_slots

from fixtures.databases import Seeder

CE = "https://ce.example.org:443/batch"
A, B, C = (1, ""), (2, ""), (3, "")


def test_a_user_who_queues_four_behind_ten_thousand_gets_all_four_in_the_next_cycle() -> None:
    waiting = {A: WaitingGroup(10_000, 1), B: WaitingGroup(4, 10_001)}
    # B is served first (it holds nothing); what B cannot use still goes to A.
    assert share_slots(100, waiting, {A: 100}) == {A: 96, B: 4}
    assert share_slots(5, waiting, {A: 100}) == {B: 4, A: 1}


def test_slots_freed_under_a_full_site_go_to_whoever_holds_fewest() -> None:
    waiting = {A: WaitingGroup(500, 1), B: WaitingGroup(500, 600)}
    assert share_slots(1, waiting, {A: 10, B: 3}) == {B: 1}
    assert share_slots(10, waiting, {A: 10, B: 3}) == {A: 2, B: 8}  # both end at 12


def test_a_cycle_is_shared_equally_among_groups_that_hold_nothing_yet() -> None:
    waiting = {A: WaitingGroup(50, 1), B: WaitingGroup(50, 2), C: WaitingGroup(50, 3)}
    assert share_slots(9, waiting, {}) == {A: 3, B: 3, C: 3}


def test_a_tie_goes_to_the_group_whose_oldest_job_is_oldest() -> None:
    waiting = {A: WaitingGroup(5, 20), B: WaitingGroup(5, 7)}
    assert share_slots(1, waiting, {}) == {B: 1}


def test_a_group_gets_no_more_than_it_has_waiting_and_the_rest_goes_to_others() -> None:
    waiting = {A: WaitingGroup(2, 1), B: WaitingGroup(100, 2)}
    assert share_slots(10, waiting, {}) == {A: 2, B: 8}
    assert share_slots(10, {A: WaitingGroup(2, 1)}, {}) == {A: 2}


def test_no_slots_or_no_waiting_jobs_deal_nothing() -> None:
    assert share_slots(0, {A: WaitingGroup(5, 1)}, {}) == {}
    assert share_slots(5, {}, {A: 3}) == {}


def test_fairshare_labels_of_one_owner_are_groups_of_their_own() -> None:
    waiting = {(1, "prod"): WaitingGroup(10, 1), (1, "test"): WaitingGroup(10, 2), B: WaitingGroup(10, 3)}
    assert share_slots(6, waiting, {}) == {(1, "prod"): 2, (1, "test"): 2, B: 2}


# --------------------------------------------------------------------------- the store's view


def test_waiting_groups_count_the_jobs_each_owner_and_label_has_for_the_cluster(
    store: JobStore, seed: Seeder
) -> None:
    first = seed.arc_jobs(3, "tosubmit", clusterlist=CE, proxyid=1)
    unlabelled = seed.arc_jobs(2, "tosubmit", clusterlist=CE, proxyid=2, fairshare=None)
    prod = seed.arc_jobs(1, "tosubmit", clusterlist=CE, proxyid=2, fairshare="prod")
    seed.arc_jobs(4, "tosubmit", clusterlist="https://other.example.org:443/batch", proxyid=3)
    seed.arc_jobs(5, "running", cluster=CE, clusterlist=CE, proxyid=3)
    assert store.waiting_groups(CE) == {
        (1, ""): WaitingGroup(3, first[0]), (2, ""): WaitingGroup(2, unlabelled[0]), (2, "prod"): WaitingGroup(1, prod[0]),
    }


def test_jobs_claimed_by_a_submitter_no_longer_wait(store: JobStore, seed: Seeder) -> None:
    ids = seed.arc_jobs(3, "tosubmit", clusterlist=CE, proxyid=1)
    claimed = store.claim_for_submit(CE, 2, "other:1", timedelta(minutes=5))
    assert [job.id for job in claimed] == ids[:2]
    assert store.waiting_groups(CE) == {(1, ""): WaitingGroup(1, ids[2])}


def test_active_jobs_per_group_count_only_those_holding_a_place_on_the_cluster(
    store: JobStore, seed: Seeder
) -> None:
    seed.arc_jobs(2, "running", cluster=CE, proxyid=1)
    seed.arc_jobs(1, "submitted", cluster=CE, proxyid=1, fairshare="prod")
    seed.arc_jobs(3, "done", cluster=CE, proxyid=1)
    seed.arc_jobs(4, "submitting", cluster=CE, proxyid=2)
    seed.arc_jobs(5, "running", cluster="https://other.example.org:443/batch", proxyid=2)
    assert store.active_by_group(CE) == {(1, ""): 2, (1, "prod"): 1, (2, ""): 4}


def test_a_claim_for_one_group_takes_only_its_jobs_by_priority_then_age(store: JobStore, seed: Seeder) -> None:
    old = seed.arc_jobs(2, "tosubmit", clusterlist=CE, proxyid=1, fairshare=None)
    urgent = seed.arc_jobs(1, "tosubmit", clusterlist=CE, proxyid=1, fairshare="", priority=90)
    seed.arc_jobs(2, "tosubmit", clusterlist=CE, proxyid=2)
    seed.arc_jobs(2, "tosubmit", clusterlist=CE, proxyid=1, fairshare="prod")
    claimed = store.claim_for_submit(CE, 3, "me:1", timedelta(minutes=5), proxyid=1, fairshare="")
    assert [job.id for job in claimed] == urgent + old
