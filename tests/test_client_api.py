"""``ACTClient`` against a live ``actd serve`` on each database: delegation,
the three submission steps, job listings and actions, results, and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from actframework.client.api import ID_BATCH, ACTClient
from actframework.client.config import ClientConfig
from actframework.db.schema import arcjobs
from actframework.errors import ConfigError, ServerError, TransportError

from fixtures.server import LiveServer, free_port

pytestmark = pytest.mark.integration

JOB = '&(executable="/bin/cat")(arguments="in.txt")(inputfiles=("in.txt" ""))(jobname="api{n}")'


@pytest.fixture
def client(api: LiveServer, arc_ce) -> ACTClient:
    """A client holding a token from a real delegation of the test user's proxy."""
    act = ACTClient(api.url)
    act.delegate(arc_ce.proxy)
    yield act
    act.close()


def submit(api: LiveServer, act: ACTClient, count: int, tmp_path: Path) -> list[int]:
    created = act.create_jobs([[api.config.clusters[0]]] * count)
    ids = [item["id"] for item in created]
    source = tmp_path / "in.txt"
    source.write_text("input\n")
    for job_id in ids:
        act.upload_input(job_id, "in.txt", source)
    confirmed = act.confirm_jobs([(job_id, JOB.format(n=n)) for n, job_id in enumerate(ids)])
    assert [item["id"] for item in confirmed] == ids
    return ids


def test_delegation_gives_a_token_that_opens_the_users_jobs(client: ACTClient, api: LiveServer) -> None:
    assert client.info()["clusters"] == list(api.config.clusters)
    assert client.jobs() == []


def test_submitted_jobs_are_listed_with_the_chosen_columns_and_their_inputs_stored(
    client: ACTClient, api: LiveServer, tmp_path: Path
) -> None:
    ids = submit(api, client, 3, tmp_path)
    rows = client.jobs(ids, client=["id", "jobname"], arc=["arcstate"])
    assert [(row["c_id"], row["c_jobname"]) for row in rows] == [(i, f"api{n}") for n, i in enumerate(ids)]
    assert [row["c_jobname"] for row in client.jobs(name="api1")] == ["api1"]
    for job_id in ids:
        assert (api.config.inputs_dir / str(job_id) / "in.txt").read_text() == "input\n"


def test_long_id_lists_go_in_batches(client: ACTClient, api: LiveServer, tmp_path: Path) -> None:
    created = client.create_jobs([[api.config.clusters[0]]] * (ID_BATCH + 5))
    ids = [item["id"] for item in created]
    assert len(client.jobs(ids, arc=[])) == ID_BATCH + 5
    killed = client.kill(ids)
    assert sorted(item["c_id"] for item in killed) == sorted(ids)
    assert client.jobs(arc=[]) == []


def test_kill_fetch_resubmit_and_clean_act_on_the_selected_jobs(
    client: ACTClient, api: LiveServer, tmp_path: Path
) -> None:
    ids = submit(api, client, 2, tmp_path)
    assert client.fetch(ids) == [] and client.resubmit(ids) == []  # nothing failed
    assert client.clean(ids) == []  # nothing finished
    assert sorted(item["c_id"] for item in client.kill([ids[0]])) == [ids[0]]
    assert [row["c_id"] for row in client.jobs(arc=[])] == [ids[1]]


def test_results_are_listed_and_downloaded_atomically(client: ACTClient, api: LiveServer, tmp_path: Path) -> None:
    [job_id] = submit(api, client, 1, tmp_path)
    [handed] = api.store.handover(10)  # as if the engine had run the job and fetched its outputs
    with api.store.engine.begin() as connection:
        connection.execute(sa.update(arcjobs).where(arcjobs.c.id == handed.arc_id).values(
            arcstate="done", IDFromEndpoint="ceAPI1"))
    results = api.config.results_dir / "ceAPI1"
    (results / "sub").mkdir(parents=True)
    (results / "out.txt").write_text("out\n")
    (results / "sub" / "deep.txt").write_bytes(b"x" * 100_000)
    assert client.list_results(job_id) == (["out.txt"], ["sub"])
    assert client.list_results(job_id, "sub") == (["deep.txt"], [])
    target = tmp_path / "got"
    assert client.download_result(job_id, "sub/deep.txt", target / "sub" / "deep.txt") == 100_000
    assert (target / "sub" / "deep.txt").read_bytes() == b"x" * 100_000
    with pytest.raises(ServerError) as missing:
        client.download_result(job_id, "nothing.txt", target / "nothing.txt")
    assert missing.value.status == 404
    assert sorted(p.name for p in (target).rglob("*")) == ["deep.txt", "sub"]  # no partial file left


def test_server_errors_carry_the_servers_message(api: LiveServer) -> None:
    with ACTClient(api.url, token="not-a-token") as act, pytest.raises(ServerError) as error:
        act.jobs()
    assert error.value.status == 401 and error.value.msg


def test_a_server_that_is_not_there_is_a_transport_error() -> None:
    with ACTClient(f"http://127.0.0.1:{free_port()}", token="t") as act, pytest.raises(TransportError):
        act.info()


def test_from_config_without_a_token_file_says_to_run_act_proxy(tmp_path: Path) -> None:
    conf = tmp_path / "config.yaml"
    conf.write_text(f"server: http://127.0.0.1:1\ntoken: {tmp_path / 'missing-token'}\n")
    with pytest.raises(ConfigError, match=r"Error reading token file .*missing-token\. Run act proxy\."):
        ACTClient.from_config(ClientConfig.load(conf))
