"""Reading and writing xRSL, NorduGrid's job description language.

An xRSL document describes one job, ``&(executable="/bin/sh")(arguments="-c"
"echo hi")``, or several, ``+(&(...))(&(...))``. :func:`parse` turns the text
into a list of :class:`XRSLJob` objects, which keep every relation in document
order so that a job can be changed (an input file source rewritten, a name
set) and written back by :func:`unparse` without losing anything the user
wrote: unknown attributes, ``|`` alternatives, ``$(VAR)`` references and ``#``
concatenations all survive.

The syntax is the one ARC's own parser accepts (``RSLParser.cpp`` in ARC is
the reference, since a CE parses what we send with it), written as a lark
LALR grammar. The few places where we differ are deliberate and listed in
``docs/xrsl.md``.

Values are plain Python data:

* ``str`` for a string, whichever way it was quoted (or not quoted);
* ``tuple`` for a parenthesised list, ``("in.txt" "")`` -> ``("in.txt", "")``;
  lists nest to any depth;
* :class:`VarRef` for ``$(NAME)`` and :class:`Concat` for ``"a" # $(B)``.
  These are kept as written, not evaluated: substituting variables is the CE's
  business, and rewriting them here would change the user's description.

The package is split by job: :mod:`~actframework.xrsl.values`,
:mod:`~actframework.xrsl.relations` and :mod:`~actframework.xrsl.job` are the
model; :mod:`~actframework.xrsl.reader` parses, with
:mod:`~actframework.xrsl.grammar`, :mod:`~actframework.xrsl.builder`,
:mod:`~actframework.xrsl.parsers`, :mod:`~actframework.xrsl.tokens` and
:mod:`~actframework.xrsl.explain` (the error messages);
:mod:`~actframework.xrsl.writer` unparses; :mod:`~actframework.xrsl.syntax`
holds what they all agree on. Import from here: the names below are the API,
the modules' other names are not.
"""

from actframework.xrsl.job import XRSLJob
from actframework.xrsl.reader import parse, parse_bytes, parse_file
from actframework.xrsl.relations import Conjunction, Disjunction, Node, Relation
from actframework.xrsl.syntax import OPERATORS
from actframework.xrsl.values import Concat, Value, ValueList, VarRef
from actframework.xrsl.writer import unparse

__all__ = [
    "OPERATORS",
    "Concat",
    "Conjunction",
    "Disjunction",
    "Node",
    "Relation",
    "Value",
    "ValueList",
    "VarRef",
    "XRSLJob",
    "parse",
    "parse_bytes",
    "parse_file",
    "unparse",
]
