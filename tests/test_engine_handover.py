"""Handover: confirmed client jobs become engine jobs with fields derived from their description.

``prepare`` is tested as the pure function it is; ``handover_cycle`` runs
against a real job store on SQLite, PostgreSQL and MariaDB, with an engine
context built from a rendered configuration as ``actd engine`` builds it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from actframework.db import Confirmation, JobStore
from actframework.db.records import ClientJobRow
from actframework.db.schema import arcjobs, clientjobs
from actframework.engine.ce import CEClients
from actframework.engine.context import EngineContext
from actframework.engine.handover import DEFAULT_PRIORITY, handover_cycle, prepare
from actframework.engine.metrics import EngineMetrics
from actframework.plugins import load_backend
from actframework.server_config import ServerConfig, new_jwt_secret, render_server_config

from fixtures.databases import Seeder

CE = "https://ce.example.org:443/batch"


def client_job(description: str) -> ClientJobRow:
    return ClientJobRow(id=12, jobname="j", jobdesc=description, clusterlist=CE, proxyid=1, created=None)


def xrsl(*relations: str) -> str:
    return '&(executable="/bin/true")' + "".join(relations)


# --------------------------------------------------------------------------- prepare


@pytest.mark.parametrize(("given", "priority"), [
    ("80", 80), ("0", 0), ("100", 100), ("1", 1), ("150", 100), ("-5", 0), (" 42 ", 42),
])
def test_priority_comes_from_the_description_clamped_to_0_100(given: str, priority: int) -> None:
    fields = prepare(client_job(xrsl(f'(priority="{given}")')), attempts=3)
    assert fields.priority == priority and fields.arcstate == "tosubmit"


def test_without_a_priority_the_job_gets_acts_default() -> None:
    assert DEFAULT_PRIORITY == 50
    assert prepare(client_job(xrsl()), attempts=3).priority == 50


@pytest.mark.parametrize(("gmlog", "downloads"), [
    (None, "/"), ("gmlog", "/;diagnose=gmlog/"), ("/arclog/", "/;diagnose=arclog/"),
    ("logs/arc", "/;diagnose=logs/arc/"),
])
def test_the_download_list_takes_the_diagnose_files_into_gmlog(gmlog: str | None, downloads: str) -> None:
    description = xrsl(f'(gmlog="{gmlog}")') if gmlog is not None else xrsl()
    assert prepare(client_job(description), attempts=0).downloadfiles == downloads


def test_a_good_description_gets_the_resubmission_attempts_and_tosubmit() -> None:
    fields = prepare(client_job(xrsl('(jobname="x")(priority="7")(gmlog="log")')), attempts=4)
    assert (fields.priority, fields.downloadfiles, fields.attemptsleft, fields.fairshare, fields.arcstate) == (
        7, "/;diagnose=log/", 4, "", "tosubmit")


@pytest.mark.parametrize("description", [
    "this is not xRSL",
    "",
    '+(&(executable="/bin/a"))(&(executable="/bin/b"))',
    xrsl('(priority="high")'),
    xrsl('(priority="1.5")'),
    xrsl('(priority=("1" "2"))'),
    xrsl('(gmlog=("a" "b"))'),
])
def test_an_unusable_description_is_handed_over_cancelled(description: str) -> None:
    fields = prepare(client_job(description), attempts=3)
    assert fields.arcstate == "cancelled"
    assert fields.attemptsleft == 0


def adl(application: str) -> str:
    return ('<ActivityDescription xmlns="http://www.eu-emi.eu/es/2010/12/adl" '
            'xmlns:ng="http://www.nordugrid.org/es/2011/12/nordugrid-adl"><Application><Executable>'
            f"<Path>/bin/true</Path></Executable>{application}</Application></ActivityDescription>")


def test_an_adl_job_gets_its_priority_and_log_directory_as_an_xrsl_one_does() -> None:
    fields = prepare(client_job(adl("<ng:Priority>150</ng:Priority><ng:LoggingDirectory>log</ng:LoggingDirectory>")),
                     attempts=2)
    assert (fields.priority, fields.downloadfiles, fields.arcstate) == (100, "/;diagnose=log/", "tosubmit")
    assert prepare(client_job(adl("")), attempts=2).priority == DEFAULT_PRIORITY


@pytest.mark.parametrize("application", [
    "<ng:Priority>high</ng:Priority>", "<ng:LoggingDirectory>a;b</ng:LoggingDirectory>", "<Unclosed>",
])
def test_an_unusable_adl_description_is_handed_over_cancelled(application: str) -> None:
    fields = prepare(client_job(adl(application)), attempts=3)
    assert (fields.arcstate, fields.attemptsleft) == ("cancelled", 0)


# --------------------------------------------------------------------------- handover_cycle


def engine_config(tmp_path: Path, db_url: str, **engine: object) -> ServerConfig:
    data = yaml.safe_load(render_server_config(
        data_dir=tmp_path / "data", database_url=db_url, listen="127.0.0.1:8080", clusters=[CE],
        ca_dir=tmp_path / "ca", jwt_secret=new_jwt_secret(),
    ))
    data["engine"].update(engine)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return ServerConfig.load(path)


@pytest.fixture
def context(store: JobStore, db_url: str, tmp_path: Path) -> EngineContext:
    config = engine_config(tmp_path, db_url, resubmit_attempts=5)
    return EngineContext(config=config, store=store, storage=load_backend("actstore"),
                         ce=CEClients(config, store), metrics=EngineMetrics(store), owner="test-host:1")


def confirm(store: JobStore, descriptions: list[str], proxyid: int = 1) -> list[int]:
    ids = store.create_client_jobs(proxyid, [[CE]] * len(descriptions))
    store.confirm_client_jobs(proxyid, [Confirmation(i, f"job{i}", d) for i, d in zip(ids, descriptions, strict=True)])
    return ids


def arc_row(seed: Seeder, client_id: int) -> dict[str, object]:
    arc_id = seed.get(clientjobs, client_id)["arcjobid"]
    assert arc_id is not None, f"client job {client_id} was not handed over"
    return dict(seed.get(arcjobs, arc_id))


def processed(context: EngineContext, outcome: str) -> float:
    value = context.metrics.registry.get_sample_value(
        "actd_engine_jobs_processed_total", {"role": "handover", "cluster": "", "outcome": outcome})
    return value or 0.0


def test_handover_cycle_moves_confirmed_jobs_with_their_derived_fields(
    context: EngineContext, store: JobStore, seed: Seeder
) -> None:
    good, urgent, broken = confirm(store, [
        xrsl('(gmlog="log")'), xrsl('(priority="90")'), "not xrsl at all",
    ])
    (unconfirmed,) = store.create_client_jobs(1, [[CE]])

    assert handover_cycle(context) == 3

    rows = {cid: arc_row(seed, cid) for cid in (good, urgent, broken)}
    assert {cid: (r["arcstate"], r["priority"], r["downloadfiles"], r["attemptsleft"]) for cid, r in rows.items()} \
        == {good: ("tosubmit", 50, "/;diagnose=log/", 5), urgent: ("tosubmit", 90, "/", 5),
            broken: ("cancelled", 50, "/", 0)}
    assert all(r["clusterlist"] == CE and r["appjobid"] == str(cid) and r["cluster"] == ""
               for cid, r in rows.items())
    assert seed.get(clientjobs, unconfirmed)["arcjobid"] is None
    assert handover_cycle(context) == 0


def test_handover_cycle_takes_at_most_limit_jobs_oldest_first(
    context: EngineContext, store: JobStore, seed: Seeder
) -> None:
    ids = confirm(store, [xrsl()] * 5)
    assert handover_cycle(context, limit=2) == 2
    assert [seed.get(clientjobs, i)["arcjobid"] is not None for i in ids] == [True, True, False, False, False]
    assert handover_cycle(context, limit=10) == 3
    assert handover_cycle(context, limit=10) == 0


def test_handover_cycle_counts_the_jobs_it_moved(context: EngineContext, store: JobStore) -> None:
    confirm(store, [xrsl()] * 3)
    handover_cycle(context)
    assert processed(context, "tosubmit") == 3
    handover_cycle(context)  # nothing new: nothing counted
    assert processed(context, "tosubmit") == 3


def test_jobs_handed_over_cancelled_are_counted_as_cancelled(context: EngineContext, store: JobStore) -> None:
    confirm(store, [xrsl(), "not xrsl"])
    assert handover_cycle(context) == 2
    assert (processed(context, "tosubmit"), processed(context, "cancelled")) == (1, 1)


def test_a_long_gmlog_does_not_block_the_handover(
    context: EngineContext, store: JobStore, seed: Seeder
) -> None:
    gmlog = "logs/" + "x" * 280
    long_one, normal = confirm(store, [xrsl(f'(gmlog="{gmlog}")'), xrsl()])

    assert handover_cycle(context) == 2

    assert arc_row(seed, normal)["arcstate"] == "tosubmit"
    row = arc_row(seed, long_one)
    # Handed over either cancelled, or with its whole list (a cut list would name the wrong directory).
    assert row["arcstate"] == "cancelled" or row["downloadfiles"] == f"/;diagnose={gmlog}/"
