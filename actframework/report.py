"""What ``actd report`` prints: the site's jobs per state, per cluster and
per user (aCT's ``actreport``), as counted by the job store.

Two tables, clusters by states and users by states, each with its totals,
so that an admin sees at a glance where jobs pile up and whose they are;
``--json`` gives the underlying counts to scripts.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence

from actframework.db.report_ops import NOT_HANDED_OVER, JobCount
from actframework.jobstates import STATES_IN_LIFE_ORDER

#: Column order: the job's life from creation to its end.
STATE_ORDER = (NOT_HANDED_OVER, *STATES_IN_LIFE_ORDER)


def cross_table(counts: Iterable[JobCount], row_of: Callable[[JobCount], str], title: str) -> list[str]:
    """Rows by ``row_of`` against the states that occur, with totals."""
    cells: dict[str, Counter[str]] = defaultdict(Counter)
    for count in counts:
        cells[row_of(count)][count.state] += count.jobs
    states = [state for state in STATE_ORDER if any(row[state] for row in cells.values())]
    totals = Counter[str]()
    for row in cells.values():
        totals.update(row)
    header = [title, *states, "total"]
    body = [
        [name, *(str(row[state]) for state in states), str(sum(row.values()))] for name, row in sorted(cells.items())
    ]
    body.append(["total", *(str(totals[state]) for state in states), str(sum(totals.values()))])
    widths = [max(len(line[column]) for line in [header, *body]) for column in range(len(header))]

    def line(cells_: Sequence[str]) -> str:
        first, *numbers = cells_
        return "  ".join([first.ljust(widths[0]), *(n.rjust(w) for n, w in zip(numbers, widths[1:], strict=True))])

    return [line(header), *(line(row) for row in body)]


def render(counts: Sequence[JobCount]) -> str:
    """The report as text: clusters by states, then users by states."""
    if not counts:
        return "no jobs\n"
    clusters = cross_table(counts, lambda count: count.cluster or "(no cluster yet)", "CLUSTER")
    users = cross_table(counts, lambda count: count.dn, "USER")
    return "\n".join([*clusters, "", *users]) + "\n"
