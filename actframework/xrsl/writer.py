"""Writing jobs back as xRSL.

The output has one form whatever quoting the input used, so that
``parse(unparse(jobs)) == jobs`` and what we send a CE is predictable.
"""

from __future__ import annotations

from collections.abc import Sequence

from actframework.errors import XRSLError
from actframework.xrsl.job import XRSLJob
from actframework.xrsl.relations import Conjunction, Disjunction, Node, Relation
from actframework.xrsl.syntax import LITERAL
from actframework.xrsl.values import Concat, Value, VarRef


def _format_string(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _format_name(name: str) -> str:
    """An attribute or variable name: bare when it reads back as one
    literal, else double-quoted. A leading '*' would turn '(' into a comment."""
    if name and LITERAL.fullmatch(name) and not name.startswith("*"):
        return name
    return _format_string(name)


def _format_value(value: Value) -> str:
    if isinstance(value, str):
        return _format_string(value)
    if isinstance(value, tuple):
        return "(" + _format_values(value) + ")"
    if isinstance(value, VarRef):
        return "$(" + _format_name(value.name) + ")"
    if isinstance(value, Concat):
        return "#".join(_format_value(part) for part in value.parts)
    raise XRSLError(f"cannot write {type(value).__name__} as an xRSL value")


def _format_values(values: Sequence[Value]) -> str:
    # Values are separated by one space, except between two lists: the
    # usual ("a" "")("b" "") style. Two strings must not touch (that would
    # be a doubled quote), nor a string and a list (a concatenation).
    out: list[str] = []
    prev_list = False
    for index, value in enumerate(values):
        is_list = isinstance(value, tuple)
        if index and not (prev_list and is_list):
            out.append(" ")
        out.append(_format_value(value))
        prev_list = is_list
    return "".join(out)


def _format_node(node: Node) -> str:
    if isinstance(node, Relation):
        return "(" + _format_name(node.attr) + node.op + _format_values(node.values) + ")"
    if isinstance(node, Conjunction):
        return "(&" + "".join(_format_node(item) for item in node.items) + ")"
    if isinstance(node, Disjunction):
        return "(|" + "".join(_format_node(item) for item in node.alternatives) + ")"
    raise XRSLError(f"cannot write {type(node).__name__} as xRSL")


def _format_job(job: XRSLJob) -> str:
    if not isinstance(job, XRSLJob):
        raise XRSLError(f"expected an XRSLJob, not {type(job).__name__}")
    if not job.relations:
        raise XRSLError("cannot write a job without relations")
    return "&" + "".join(_format_node(node) for node in job.relations)


def unparse(jobs: XRSLJob | Sequence[XRSLJob]) -> str:
    """Write jobs as xRSL text on one line: ``&(...)(...)`` for one job,
    ``+(&...)(&...)`` for several.

    Strings are always double-quoted (a ``"`` inside is doubled) and names
    are bare, so the output is the same whatever quoting the input used:
    ``parse(unparse(jobs)) == jobs``.
    """
    if isinstance(jobs, XRSLJob):
        return _format_job(jobs)
    jobs = list(jobs)
    if not jobs:
        raise XRSLError("no jobs to write")
    if len(jobs) == 1:
        return _format_job(jobs[0])
    return "+" + "".join("(" + _format_job(job) + ")" for job in jobs)
