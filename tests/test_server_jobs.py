"""``/jobs`` against a live ``actd serve`` on each database: submission in its
phases, listing, kill/fetch/resubmit, clean, and isolation between users."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from fixtures.server import EXTRA_CLUSTER, LiveServer

from actframework.db.schema import stagings

pytestmark = pytest.mark.integration

HTTP_DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                       r"\d{4} \d\d:\d\d:\d\d GMT$")
SIMPLE_JOB = '&(executable="/bin/true")(jobname="{name}")'


@dataclass
class User:
    """One authenticated client of the server."""

    api: LiveServer
    proxyid: int
    http: requests.Session

    def call(self, method: str, body: Any = None, **params: str) -> requests.Response:
        return self.http.request(method, f"{self.api.url}/jobs", json=body, params=params)

    def ok(self, method: str, body: Any = None, **params: str) -> Any:
        response = self.call(method, body, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def create(self, count: int, clusters: list[str]) -> list[int]:
        answer = self.ok("POST", [{"clusterlist": clusters} for _ in range(count)])
        return [element["id"] for element in answer]

    def submit(self, names: list[str], cluster: str) -> list[int]:
        """POST then PUT: confirmed jobs called ``names``."""
        ids = self.create(len(names), [cluster])
        answer = self.ok("PUT", [{"id": i, "desc": SIMPLE_JOB.format(name=n)} for i, n in zip(ids, names)])
        assert answer == [{"id": i, "name": n} for i, n in zip(ids, names)]
        return ids

    def rows(self, **params: str) -> list[dict[str, Any]]:
        return self.ok("GET", client="id,jobname", arc="arcstate", **params)


@pytest.fixture
def cluster(arc_ce) -> str:
    return f"https://localhost:{arc_ce.port}/fork"


@pytest.fixture
def alice(api: LiveServer, arc_ce) -> User:
    proxyid, token = api.token_for(arc_ce.proxy)
    return User(api, proxyid, api.session(token))


@pytest.fixture
def bob(api: LiveServer, arc_ce) -> User:
    proxyid, token = api.token_for(arc_ce.proxy2)
    return User(api, proxyid, api.session(token))


def hand_over(api: LiveServer) -> dict[int, int]:
    """Let the engine take every confirmed job: client id → arc id."""
    return {result.client_id: result.arc_id for result in api.store.handover()}


def put_in_state(api: LiveServer, arc_id: int, state: str, ce_id: str | None = None) -> None:
    """Move a freshly handed-over job to ``state`` as the engine would."""
    fields = {"IDFromEndpoint": ce_id} if ce_id else None
    assert api.store.set_arcstate([arc_id], state, ["tosubmit"], fields=fields) == [arc_id]


def upload(api: LiveServer, job_id: int, name: str, text: str = "data") -> Path:
    path = api.config.inputs_dir / str(job_id) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- submission


def test_jobs_go_from_created_to_confirmed_to_handed_over(api: LiveServer, alice: User, cluster: str) -> None:
    [job_id] = alice.create(1, [cluster])
    row = alice.ok("GET", client="id,jobname,jobdesc,clusterlist,created", arc="id,arcstate")
    assert row == [{"c_id": job_id, "c_jobname": None, "c_jobdesc": None, "c_clusterlist": cluster,
                    "c_created": row[0]["c_created"], "a_id": None, "a_arcstate": None}]
    assert HTTP_DATE.match(row[0]["c_created"])

    answer = alice.ok("PUT", [{"id": job_id, "desc": SIMPLE_JOB.format(name="first")}])
    assert answer == [{"id": job_id, "name": "first"}]
    [row] = alice.ok("GET", client="jobname,jobdesc", arc="arcstate")
    assert row["c_jobname"] == "first" and "/bin/true" in row["c_jobdesc"]
    assert row["a_arcstate"] is None

    arc_id = hand_over(api)[job_id]
    assert alice.rows() == [{"c_id": job_id, "c_jobname": "first", "a_arcstate": "tosubmit"}]
    assert alice.ok("GET", arc="id", state="tosubmit") == [{"a_id": arc_id}]


def test_post_answers_each_element_and_stores_normalised_clusters(api: LiveServer, alice: User, arc_ce) -> None:
    port = arc_ce.port
    body = [
        {"clusterlist": [f"https://localhost:{port}/fork/"]},
        {"clusterlist": [f"HTTPS://LOCALHOST:{port}/fork", "https://ce.example.org:2811/batch"]},
        {"clusterlist": ["https://ce.example.org:443/batch"]},
        {"clusterlist": [f"http://localhost:{port}/fork"]},
        {"clusterlist": ["/fork"]},
        {"clusterlist": []},
        {},
        "not an object",
    ]
    answer = alice.ok("POST", body)
    assert [set(element) for element in answer[:2]] == [{"id"}, {"id"}]
    assert answer[2:] == [
        {"msg": "Unknown cluster https://ce.example.org:443/batch"},
        {"msg": f"Unknown cluster http://localhost:{port}/fork"},
        {"msg": "Unknown cluster /fork"},
        {"msg": "No clusters given"},
        {"msg": "No clusters given"},
        {"msg": "Job element is not an object"},
    ]
    rows = alice.ok("GET", client="id,clusterlist")
    assert rows == [
        {"c_id": answer[0]["id"], "c_clusterlist": f"https://localhost:{port}/fork"},
        {"c_id": answer[1]["id"], "c_clusterlist": f"https://localhost:{port}/fork,{EXTRA_CLUSTER}"},
    ]


def test_default_https_port_is_the_same_cluster(alice: User) -> None:
    from actframework.clusters import normalise_cluster_url

    assert normalise_cluster_url("https://ce.example.org/batch") == "https://ce.example.org:443/batch"
    assert normalise_cluster_url("https://ce.example.org:443/batch/") == "https://ce.example.org:443/batch"
    assert normalise_cluster_url("https://ce.example.org:x/batch") is None
    assert normalise_cluster_url("https://[::1]:8443/q") == "https://[::1]:8443/q"
    # The configured EXTRA_CLUSTER has an explicit port; writing it differently still matches.
    assert set(alice.ok("POST", [{"clusterlist": ["https://CE.example.org:2811/batch/"]}])[0]) == {"id"}


@pytest.mark.parametrize("body", [None, b"", b"  "])
def test_post_and_put_without_a_body_answer_an_empty_list(alice: User, body: bytes | None) -> None:
    for method in ("POST", "PUT"):
        response = alice.http.request(method, f"{alice.api.url}/jobs", data=body)
        assert (response.status_code, response.json()) == (200, [])


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_bodies_that_are_not_a_json_list_are_refused(alice: User, method: str) -> None:
    response = alice.call(method, {"clusterlist": ["x"]})
    assert (response.status_code, response.json()) == (400, {"msg": "Input JSON is not a list"})
    response = alice.http.request(method, f"{alice.api.url}/jobs", data=b"[{not json",
                                  headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (400, {"msg": "Request body is not valid JSON"})


def test_put_answers_each_element_with_its_error(api: LiveServer, alice: User, bob: User, cluster: str) -> None:
    ids = alice.create(5, [cluster])
    [bobs] = bob.create(1, [cluster])
    body = [
        7,
        {"desc": SIMPLE_JOB.format(name="x")},
        {"id": 10**6, "desc": SIMPLE_JOB.format(name="x")},
        {"id": bobs, "desc": SIMPLE_JOB.format(name="x")},
        {"id": ids[0]},
        {"id": ids[1], "desc": '&(executable="/bin/true"'},
        {"id": ids[2], "desc": '+(&(executable="/bin/a"))(&(executable="/bin/b"))'},
        {"id": ids[3], "desc": '&(executable="/bin/true")(jobname="named")(inputfiles=("in.txt" ""))'},
        {"id": ids[4], "desc": SIMPLE_JOB.format(name="fine"), "extra": 1},
    ]
    answer = alice.ok("PUT", body)
    assert answer[0] == {"msg": "Job element is not an object"}
    assert answer[1] == {"msg": "No job ID given"}
    assert answer[2] == {"id": 10**6, "msg": f"Job ID {10**6} does not exist"}
    assert answer[3] == {"id": bobs, "msg": f"Job ID {bobs} does not exist"}
    assert answer[4] == {"id": ids[0], "msg": "No job description given"}
    assert answer[5]["id"] == ids[1]
    assert re.fullmatch(r"Invalid job description: line 1, column \d+: .+", answer[5]["msg"])
    assert answer[6]["msg"].startswith("Invalid job description: it holds 2 jobs")
    assert answer[7] == {"id": ids[3], "name": "named", "msg": "Input file in.txt missing"}
    assert answer[8] == {"id": ids[4], "name": "fine"}
    confirmed = {row["c_id"]: row["c_jobdesc"] for row in alice.ok("GET", client="id,jobdesc")}
    assert [i for i, desc in confirmed.items() if desc is not None] == [ids[4]]
    assert bob.ok("GET", client="jobdesc") == [{"c_jobdesc": None}]


def test_uploaded_inputs_confirm_the_job_and_point_at_the_data_dir(api: LiveServer, alice: User, cluster: str) -> None:
    [job_id] = alice.create(1, [cluster])
    desc = ('&(executable="run.sh")(jobname="inputs")'
            '(inputfiles=("in.txt" "")("sub/data.bin" "file:///home/me/data.bin")'
            '("remote.txt" "https://example.org/remote.txt"))')
    first = alice.ok("PUT", [{"id": job_id, "desc": desc}])
    assert first == [{"id": job_id, "name": "inputs", "msg": "Input file in.txt missing"}]
    input_file = upload(api, job_id, "in.txt")
    data_file = upload(api, job_id, "sub/data.bin")
    second = alice.ok("PUT", [{"id": job_id, "desc": desc}])
    assert second == [{"id": job_id, "name": "inputs", "msg": "Input file run.sh missing"}]
    script = upload(api, job_id, "run.sh", "#!/bin/sh\n")
    assert alice.ok("PUT", [{"id": job_id, "desc": desc}]) == [{"id": job_id, "name": "inputs"}]

    from actframework import xrsl

    [stored] = alice.ok("GET", client="jobdesc")
    [job] = xrsl.parse(stored["c_jobdesc"])
    assert job.inputfiles == [
        ("in.txt", str(input_file)),
        ("sub/data.bin", str(data_file)),
        ("remote.txt", "https://example.org/remote.txt"),
        ("run.sh", str(script)),
    ]


def test_input_names_leaving_the_job_dir_are_refused(alice: User, cluster: str) -> None:
    [job_id] = alice.create(1, [cluster])
    desc = '&(executable="/bin/true")(inputfiles=("../other/secret" ""))'
    answer = alice.ok("PUT", [{"id": job_id, "desc": desc}])
    assert answer == [{"id": job_id, "msg": "Invalid input file name ../other/secret"}]


def test_jobs_handed_over_keep_their_description(api: LiveServer, alice: User, cluster: str) -> None:
    [job_id] = alice.submit(["kept"], cluster)
    hand_over(api)
    answer = alice.ok("PUT", [{"id": job_id, "desc": SIMPLE_JOB.format(name="changed")}])
    assert answer == [{"id": job_id, "name": "changed", "msg": f"Job ID {job_id} is already submitted"}]
    assert alice.rows()[0]["c_jobname"] == "kept"


def test_post_with_a_description_creates_a_confirmed_job(api: LiveServer, alice: User, cluster: str) -> None:
    body = [
        {"clusterlist": [cluster], "desc": SIMPLE_JOB.format(name="oneshot")},
        {"clusterlist": [cluster], "desc": '&(executable="/bin/true")(inputfiles=("in.txt" ""))'},
        {"clusterlist": [cluster], "desc": "&(broken"},
        {"clusterlist": ["https://unknown.example.org/q"], "desc": SIMPLE_JOB.format(name="x")},
    ]
    answer = alice.ok("POST", body)
    assert set(answer[0]) == {"id", "name"} and answer[0]["name"] == "oneshot"
    assert answer[1] == {"msg": "Input file in.txt missing"}
    assert answer[2]["msg"].startswith("Invalid job description: line 1")
    assert answer[3] == {"msg": "Unknown cluster https://unknown.example.org/q"}
    assert alice.rows() == [{"c_id": answer[0]["id"], "c_jobname": "oneshot", "a_arcstate": None}]
    assert hand_over(api).keys() == {answer[0]["id"]}


ADL_NS = "http://www.eu-emi.eu/es/2010/12/adl"
ADL_JOB = (f'<ActivityDescription xmlns="{ADL_NS}" xmlns:x="urn:example"><ActivityIdentification>'
           "<Name>{name}</Name><x:Keep>me</x:Keep></ActivityIdentification><Application><Executable>"
           "<Path>run.sh</Path></Executable></Application><DataStaging><InputFile><Name>in.txt</Name></InputFile>"
           "<InputFile><Name>remote.txt</Name><Source><URI>https://example.org/remote.txt</URI></Source>"
           "</InputFile></DataStaging></ActivityDescription>")


def test_adl_descriptions_are_confirmed_and_stored_as_adl(api: LiveServer, alice: User, cluster: str) -> None:
    [job_id] = alice.create(1, [cluster])
    desc = ADL_JOB.format(name="adl")
    assert alice.ok("PUT", [{"id": job_id, "desc": desc}]) == [
        {"id": job_id, "name": "adl", "msg": "Input file in.txt missing"}]
    input_file = upload(api, job_id, "in.txt")
    assert alice.ok("PUT", [{"id": job_id, "desc": desc}]) == [
        {"id": job_id, "name": "adl", "msg": "Input file run.sh missing"}]
    script = upload(api, job_id, "run.sh", "#!/bin/sh\n")
    assert alice.ok("PUT", [{"id": job_id, "desc": desc}]) == [{"id": job_id, "name": "adl"}]

    from actframework import jobdesc

    [stored] = alice.ok("GET", client="jobdesc")
    assert stored["c_jobdesc"].startswith("<ActivityDescription ") and "<x:Keep>me</x:Keep>" in stored["c_jobdesc"]
    job = jobdesc.parse_one(stored["c_jobdesc"])
    assert [(entry.name, entry.source) for entry in job.inputs] == [
        ("in.txt", str(input_file)), ("remote.txt", "https://example.org/remote.txt"), ("run.sh", str(script))]
    assert hand_over(api).keys() == {job_id}


def test_invalid_adl_is_refused_with_where_and_why(alice: User, cluster: str) -> None:
    ids = alice.create(4, [cluster])
    body = [
        {"id": ids[0], "desc": f'<ActivityDescription xmlns="{ADL_NS}">\n<Application>\n</ActivityDescription>'},
        {"id": ids[1], "desc": '<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<a>&e;</a>'},
        {"id": ids[2], "desc": f"<ActivityDescriptions>{ADL_JOB.format(name='a')}{ADL_JOB.format(name='b')}"
                               "</ActivityDescriptions>"},
        {"id": ids[3], "desc": f'<ActivityDescription xmlns="{ADL_NS}"><DataStaging><InputFile><Name>../x</Name>'
                               "</InputFile></DataStaging></ActivityDescription>"},
    ]
    answer = alice.ok("PUT", body)
    assert answer[0]["msg"] == ("Invalid job description: line 3, column 1: expected </Application> to close "
                                "the <Application> at line 2, column 1")
    assert answer[1]["msg"].startswith("Invalid job description: line 1, column ")
    assert "document type declaration" in answer[1]["msg"] and "root:" not in answer[1]["msg"]
    assert answer[2]["msg"] == "Invalid job description: it holds 2 jobs; submit each job separately"
    assert answer[3]["msg"] == "Invalid input file name ../x"
    assert all(row["c_jobdesc"] is None for row in alice.ok("GET", client="jobdesc"))


def test_post_with_an_adl_description_creates_a_confirmed_job(api: LiveServer, alice: User, cluster: str) -> None:
    oneshot = f'<ActivityDescription xmlns="{ADL_NS}"><ActivityIdentification><Name>oneshot</Name>' \
              "</ActivityIdentification><Application><Executable><Path>/bin/true</Path></Executable>" \
              "</Application></ActivityDescription>"
    answer = alice.ok("POST", [{"clusterlist": [cluster], "desc": oneshot},
                               {"clusterlist": [cluster], "desc": ADL_JOB.format(name="needs-inputs")}])
    assert set(answer[0]) == {"id", "name"} and answer[0]["name"] == "oneshot"
    assert answer[1] == {"msg": "Input file in.txt missing"}
    [stored] = alice.ok("GET", client="jobdesc")
    assert stored["c_jobdesc"] == oneshot


# --------------------------------------------------------------------------- listing


def test_get_filters_by_id_name_and_state(api: LiveServer, alice: User, cluster: str) -> None:
    ids = alice.submit(["alpha_1", "alpha%2", "beta"], cluster)
    arcs = hand_over(api)
    put_in_state(api, arcs[ids[2]], "running")
    assert [r["c_id"] for r in alice.rows(id=f"{ids[0]},{ids[2]}")] == [ids[0], ids[2]]
    assert [r["c_id"] for r in alice.rows(id=f"{ids[0]}-{ids[1]}")] == ids[:2]
    assert [r["c_id"] for r in alice.rows(name="alpha")] == ids[:2]
    assert [r["c_id"] for r in alice.rows(name="a%")] == [ids[1]]
    assert [r["c_id"] for r in alice.rows(state="running")] == [ids[2]]
    assert alice.rows(state="running", name="alpha") == []
    assert alice.ok("GET") == [] and alice.ok("GET", id=str(ids[0])) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"id": "1,x", "client": "id"}, "Invalid job ID: x"),
        ({"id": "5-2", "client": "id"}, "Invalid job range: 5-2"),
        ({"client": "id,nosuch"}, 'Invalid column "nosuch"'),
        ({"arc": "arcstate,proxy"}, 'Invalid column "proxy"'),
    ],
)
def test_get_refuses_bad_filters_and_columns(alice: User, params: dict[str, str], message: str) -> None:
    response = alice.call("GET", **params)
    assert (response.status_code, response.json()) == (400, {"msg": message})


def test_get_renders_datetimes_as_http_dates(api: LiveServer, alice: User, cluster: str) -> None:
    alice.submit(["dated"], cluster)
    hand_over(api)
    [row] = alice.ok("GET", client="created,modified", arc="created,tarcstate")
    assert all(HTTP_DATE.match(value) for value in row.values()), row


# --------------------------------------------------------------------------- PATCH


@pytest.mark.parametrize(
    ("params", "message"),
    [({}, "Request has no action parameter"), ({"action": "kill"}, 'Invalid action "kill"'),
     ({"action": "cancel", "id": "a"}, "Invalid job ID: a")],
)
def test_patch_needs_a_valid_action(alice: User, params: dict[str, str], message: str) -> None:
    response = alice.call("PATCH", **params)
    assert (response.status_code, response.json()) == (400, {"msg": message})


def test_cancel_deletes_waiting_jobs_and_marks_running_ones(api: LiveServer, alice: User, cluster: str) -> None:
    [unconfirmed] = alice.create(1, [cluster])
    confirmed, waiting, submitting, running, done = alice.submit(["c", "w", "s", "r", "d"], cluster)
    arcs = hand_over(api)
    [unhanded] = alice.submit(["late"], cluster)
    put_in_state(api, arcs[submitting], "submitting")
    put_in_state(api, arcs[running], "running")
    put_in_state(api, arcs[done], "done")
    for job_id in (unconfirmed, unhanded, waiting, submitting, running):
        upload(api, job_id, "in.txt")

    answer = alice.ok("PATCH", action="cancel")
    assert sorted(answer, key=lambda o: o["c_id"]) == [
        {"c_id": unconfirmed, "a_id": None, "a_arcstate": None},
        {"c_id": confirmed, "a_id": arcs[confirmed], "a_arcstate": "tosubmit"},
        {"c_id": waiting, "a_id": arcs[waiting], "a_arcstate": "tosubmit"},
        {"c_id": submitting, "a_id": arcs[submitting], "a_arcstate": "submitting"},
        {"c_id": running, "a_id": arcs[running], "a_arcstate": "running"},
        {"c_id": unhanded, "a_id": None, "a_arcstate": None},
    ]
    assert alice.rows() == [
        {"c_id": submitting, "c_jobname": "s", "a_arcstate": "tocancel"},
        {"c_id": running, "c_jobname": "r", "a_arcstate": "tocancel"},
        {"c_id": done, "c_jobname": "d", "a_arcstate": "done"},
    ]
    remaining = {int(p.name) for p in api.config.inputs_dir.iterdir()}
    assert remaining == {running}


def test_cancel_with_a_state_filter_touches_only_that_state(api: LiveServer, alice: User, cluster: str) -> None:
    queued, running = alice.submit(["q", "r"], cluster)
    arcs = hand_over(api)
    put_in_state(api, arcs[queued], "submitted")
    put_in_state(api, arcs[running], "running")
    assert alice.ok("PATCH", action="cancel", state="running") == [
        {"c_id": running, "a_id": arcs[running], "a_arcstate": "running"}]
    assert alice.ok("PATCH", action="cancel", state="done") == []
    assert [r["a_arcstate"] for r in alice.rows()] == ["submitted", "tocancel"]


def test_fetch_and_resubmit_move_failed_jobs(api: LiveServer, alice: User, cluster: str) -> None:
    failed, donefailed, running = alice.submit(["f", "df", "r"], cluster)
    arcs = hand_over(api)
    put_in_state(api, arcs[failed], "failed")
    put_in_state(api, arcs[donefailed], "donefailed")
    put_in_state(api, arcs[running], "running")
    assert alice.ok("PATCH", action="resubmit", id=str(donefailed)) == [donefailed]
    assert alice.ok("PATCH", action="fetch", state="running") == [failed]
    assert alice.ok("PATCH", action="fetch") == []
    assert [r["a_arcstate"] for r in alice.rows()] == ["tofetch", "toresubmit", "running"]


@pytest.mark.parametrize(("arcstate", "expected"), [("tofetch", "tofetch"), ("toresubmit", "toresubmit"),
                                                     ("tocancel", "tocancel")])
def test_patch_accepts_the_older_arcstate_body(api: LiveServer, alice: User, cluster: str,
                                               arcstate: str, expected: str) -> None:
    [job_id] = alice.submit(["legacy"], cluster)
    put_in_state(api, hand_over(api)[job_id], "running" if arcstate == "tocancel" else "failed")
    answer = alice.ok("PATCH", {"arcstate": arcstate}, id=str(job_id))
    assert answer == ([{"c_id": job_id, "a_id": answer[0]["a_id"], "a_arcstate": "running"}]
                      if arcstate == "tocancel" else [job_id])
    assert alice.rows()[0]["a_arcstate"] == expected
    response = alice.call("PATCH", {"arcstate": "done"})
    assert (response.status_code, response.json()) == (400, {"msg": 'Invalid arcstate "done"'})


# --------------------------------------------------------------------------- DELETE


def test_clean_removes_rows_inputs_and_fetched_results(api: LiveServer, alice: User, cluster: str) -> None:
    done, failed, running = alice.submit(["d", "f", "r"], cluster)
    arcs = hand_over(api)
    put_in_state(api, arcs[done], "done", ce_id="ce-done")
    put_in_state(api, arcs[failed], "failed", ce_id="ce-failed")
    put_in_state(api, arcs[running], "running", ce_id="ce-running")
    for job_id in (done, failed, running):
        upload(api, job_id, "in.txt")
    for ce_id in ("ce-done", "ce-failed", "ce-running"):
        (api.config.results_dir / ce_id).mkdir()
        (api.config.results_dir / ce_id / "out.txt").write_text("out")

    assert alice.ok("DELETE", state="running") == []
    assert sorted(alice.ok("DELETE")) == [done, failed]
    assert alice.rows() == [{"c_id": running, "c_jobname": "r", "a_arcstate": "running"}]
    assert {p.name for p in api.config.inputs_dir.iterdir()} == {str(running)}
    # Only a done/donefailed job's results were fetched by us; others are not ours to remove.
    assert {p.name for p in api.config.results_dir.iterdir()} == {"ce-failed", "ce-running"}
    assert sorted(api.store.counts_by_state().items()) == [("running", 1), ("toclean", 2)]


def test_clean_never_removes_outside_the_results_dir(api: LiveServer, alice: User, cluster: str) -> None:
    [job_id] = alice.submit(["evil"], cluster)
    put_in_state(api, hand_over(api)[job_id], "done", ce_id="..")
    assert alice.ok("DELETE") == [job_id]
    assert api.config.results_dir.is_dir() and api.config.inputs_dir.is_dir()


# --------------------------------------------------------------------------- isolation


def test_users_never_see_or_touch_each_others_jobs(api: LiveServer, alice: User, bob: User, cluster: str) -> None:
    waiting, running, failed, done = alice.submit(["w", "r", "f", "d"], cluster)
    [unconfirmed] = alice.create(1, [cluster])
    arcs = hand_over(api)
    put_in_state(api, arcs[running], "running")
    put_in_state(api, arcs[failed], "failed")
    put_in_state(api, arcs[done], "done", ce_id="ce-alice")
    upload(api, waiting, "in.txt")
    (api.config.results_dir / "ce-alice").mkdir()
    before = alice.ok("GET", client="id,jobname,jobdesc,modified", arc="arcstate,tarcstate")
    every = f"{min(waiting, unconfirmed)}-{max(waiting, unconfirmed)}"

    assert bob.ok("GET", client="id", arc="id") == []
    assert bob.ok("GET", client="id", id=every) == []
    assert bob.ok("PATCH", action="cancel", id=every) == []
    assert bob.ok("PATCH", action="fetch", id=every) == []
    assert bob.ok("PATCH", action="resubmit", id=every) == []
    assert bob.ok("PATCH", {"arcstate": "tocancel"}, id=every) == []
    assert bob.ok("DELETE", id=every) == []
    assert bob.ok("DELETE", state="done") == []
    answer = bob.ok("PUT", [{"id": unconfirmed, "desc": SIMPLE_JOB.format(name="hijack")}])
    assert answer == [{"id": unconfirmed, "msg": f"Job ID {unconfirmed} does not exist"}]

    assert alice.ok("GET", client="id,jobname,jobdesc,modified", arc="arcstate,tarcstate") == before
    assert (api.config.inputs_dir / str(waiting) / "in.txt").is_file()
    assert (api.config.results_dir / "ce-alice").is_dir()


def test_put_records_where_a_backend_staged_the_inputs(api: LiveServer, alice: User, cluster: str) -> None:
    ids = alice.create(6, [cluster])
    dav = "https://dav.example.org/home/alice"
    desc = SIMPLE_JOB.format(name="staged")
    answer = alice.ok("PUT", [
        {"id": ids[0], "desc": desc, "storage": {"backend": "webdav", "url": dav}},
        {"id": ids[1], "desc": desc, "storage": {"backend": "nosuch", "url": dav}},
        {"id": ids[2], "desc": desc, "storage": {"backend": "webdav", "url": "file:///etc"}},
        {"id": ids[3], "desc": desc, "storage": {"backend": "webdav", "url": dav, "token_file": "/etc/shadow"}},
        {"id": ids[4], "desc": desc, "storage": "webdav"},
        {"id": ids[5], "desc": desc},
    ])
    assert answer[0] == {"id": ids[0], "name": "staged"}
    assert answer[1]["msg"] == "Invalid storage: no storage backend 'nosuch' on this server"
    assert answer[2]["msg"] == ("Invalid storage: 'file:///etc' is not an http(s) URL of at most "
                                "1024 characters")
    assert answer[3]["msg"] == answer[4]["msg"] == 'Invalid storage: give {"backend": name, "url": URL}'
    assert answer[5] == {"id": ids[5], "name": "staged"}
    with api.store.engine.connect() as connection:
        rows = connection.execute(sa.select(stagings.c.clientjobid, stagings.c.proxyid, stagings.c.backend,
                                            stagings.c.url)).all()
    assert [tuple(row) for row in rows] == [(ids[0], alice.proxyid, "webdav", dav)]
