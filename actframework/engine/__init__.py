"""The ARC engine (``actd engine``): jobs from the job store through ARC CEs and back.

The engine prepares what the CE client (:mod:`actframework.arc`) sends,
calls it, handles its errors and writes the outcome to the job store
(:mod:`actframework.db`). Its parts, one module each:

* :mod:`~actframework.engine.handover`: confirmed client jobs become engine jobs;
* :mod:`~actframework.engine.submitter`: ``tosubmit`` jobs go to a CE, with
  their inputs staged through the storage backend;
* :mod:`~actframework.engine.actions`: user and engine requests on CE jobs:
  kill (``tocancel``), resubmit (``toresubmit``), rerun (``torerun``);
* :mod:`~actframework.engine.status`: CE states become ``arcstate``/``State``;
* :mod:`~actframework.engine.fetcher`: outputs of finished jobs are retrieved;
* :mod:`~actframework.engine.cleaner`: cleaned jobs leave the CE and the store;
* :mod:`~actframework.engine.reconcile`: submissions cut off by a crash are
  matched with the CE's job list;
* :mod:`~actframework.engine.runner`: the worker threads and their schedule.

Every piece of work is claimed with a lease (:mod:`actframework.db.claims`),
so any number of engine processes, on one host or many, can share one
PostgreSQL or MariaDB database without working on the same job twice.
"""
