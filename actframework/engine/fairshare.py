"""Fair share: how one submission cycle's slots on a cluster are split.

Jobs waiting for a cluster fall into groups: one per owner (the user's
proxy) and, within an owner, one per ``fairshare`` label where a job
carries one (aCT's label; jobs without one form the owner's unlabelled
group). Each cycle's limit (the site's free slots, at most
``submit_batch``) is dealt out one slot at a time to the group that has the
fewest jobs on the cluster counting the slots it has already been dealt,
among groups that still have jobs waiting. Ties go to the group whose
oldest waiting job is oldest.

So a user who queues 4 jobs behind another user's 10,000 gets slots in
the very next cycle, and under a full ``maxjobs`` every freed slot goes to
whoever holds fewest: the owners' shares of the cluster converge to equal
(max-min fairness), each group taking no more than it has waiting. Within
a group, jobs go by priority, then age (the claim's order).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping

from actframework.db.records import WaitingGroup

#: A group of waiting jobs: (owner proxyid, fairshare label).
Group = tuple[int, str]


def share_slots(limit: int, waiting: Mapping[Group, WaitingGroup], on_cluster: Mapping[Group, int]) -> dict[Group, int]:
    """How many of ``limit`` slots each waiting group gets (groups that get
    none are left out). ``on_cluster`` holds the jobs each group has on the
    cluster already; a group missing from it has none."""
    heap = [(on_cluster.get(group, 0), info.oldest, group) for group, info in waiting.items() if info.waiting > 0]
    heapq.heapify(heap)
    dealt: dict[Group, int] = {}
    for _ in range(max(0, limit)):
        if not heap:
            break
        held, oldest, group = heapq.heappop(heap)
        dealt[group] = dealt.get(group, 0) + 1
        if dealt[group] < waiting[group].waiting:
            heapq.heappush(heap, (held + 1, oldest, group))
    return dealt
