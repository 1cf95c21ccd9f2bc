"""ADL jobs all the way: ``act sub job.adl`` to ``act get`` through ``actd`` and the
real A-REX, several jobs in one ``<ActivityDescriptions>``, and engine
cycles whose batch mixes ADL and xRSL: one POST per language, and what one
language's refusal does to the other's jobs."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from fixtures.stack import Stack, StackFactory
from test_act_cli import Act, act, wait_for_state  # noqa: F401 (fixture)
from test_engine_in_process import engine_for

from actframework.arc import ARCRest
from actframework.db.schema import arcjobs, clientjobs
from actframework.engine.handover import handover_cycle
from actframework.engine.submitter import submit_cycle
from actframework.errors import ARCHTTPError, CEUnreachableError
from actframework.jobdesc.adl import ADL_NS

pytestmark = [pytest.mark.integration, pytest.mark.arex]

UPPER = (f'<ActivityDescription xmlns="{ADL_NS}">\n'
         "  <ActivityIdentification><Name>{name}</Name></ActivityIdentification>\n"
         "  <Application>\n"
         "    <Executable><Path>/bin/sh</Path><Argument>-c</Argument>\n"
         "      <Argument>tr a-z A-Z &lt; in.txt &gt; result.txt</Argument></Executable>\n"
         "  </Application>\n"
         "  <DataStaging>\n"
         "    <InputFile><Name>in.txt</Name>{source}</InputFile>\n"
         "    <OutputFile><Name>result.txt</Name></OutputFile>\n"
         "  </DataStaging>\n"
         "</ActivityDescription>\n")


def submitted_ids(stdout: str) -> dict[str, int]:
    """name → id from ``act sub``'s ``Inserted job <name> with ID <id>`` lines."""
    lines = [line.split() for line in stdout.splitlines() if line.startswith("Inserted job ")]
    return {words[2]: int(words[-1]) for words in lines}


def test_an_adl_job_with_an_uploaded_input_and_an_output_from_sub_to_get(act: Act) -> None:
    act.run("proxy")
    (act.workdir / "in.txt").write_text("shout this\n")
    (act.workdir / "upper.adl").write_text(UPPER.format(name="adl-cli", source=""))
    out = act.run("sub", "upper.adl").stdout
    job_id = submitted_ids(out)["adl-cli"]
    wait_for_state(act, job_id, "done")
    ce_id = act.stack.jobs([job_id])[job_id]["a_IDFromEndpoint"]  # type: ignore[attr-defined]
    assert act.run("get", "-i", str(job_id)).stdout == f"Results for job adl-cli stored in {ce_id}\n"
    assert (act.workdir / ce_id / "result.txt").read_text() == "SHOUT THIS\n"
    assert act.run("stat", "-i", str(job_id)).stdout == ""


def test_several_jobs_in_one_activitydescriptions_file_run_as_separate_jobs(act: Act) -> None:
    act.run("proxy")
    jobs = []
    for n in range(3):
        (act.workdir / f"in{n}.txt").write_text(f"job number {n}\n")
        jobs.append(UPPER.format(name=f"bulk-{n}", source=f"<Source><URI>in{n}.txt</URI></Source>"))
    (act.workdir / "bulk.adl").write_text(f"<ActivityDescriptions>\n{''.join(jobs)}</ActivityDescriptions>\n")
    out = act.run("sub", "bulk.adl").stdout
    assert out.splitlines()[0] == "Submitting batch of 1 jobs ..."
    ids = submitted_ids(out)
    assert sorted(ids) == ["bulk-0", "bulk-1", "bulk-2"] and len(set(ids.values())) == 3
    for job_id in ids.values():
        wait_for_state(act, job_id, "done")
    got = act.run("get", "-i", ",".join(str(i) for i in ids.values())).stdout.splitlines()
    assert len(got) == 3
    for name in ids:
        [line] = [line for line in got if line.startswith(f"Results for job {name} stored in ")]
        ce_dir = act.workdir / line.rsplit(" ", 1)[1]
        assert (ce_dir / "result.txt").read_text() == f"JOB NUMBER {name[-1]}\n"


def test_one_cycle_sends_a_mixed_batch_as_one_post_per_language(
    make_stack: StackFactory, arc_rest: ARCRest, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack("sqlite", engines=0)
    xrsl = '&(executable="/bin/cat")(arguments="in.txt")(inputfiles=("in.txt" ""))(stdout="out.txt")(jobname="{}")'
    adl = UPPER.replace("result.txt", "out.txt")
    descriptions = [adl.format(name="mixed-0", source=""), xrsl.format("mixed-1"),
                    adl.format(name="mixed-2", source=""), xrsl.format("mixed-3")]
    ids = stack.submit(descriptions, lambda index, _: {"in.txt": f"input {index}\n".encode()})
    posts: list[str] = []
    create = ARCRest.create_jobs

    def recorded(self: ARCRest, document: str, **options: str | None) -> list:
        posts.append(document)
        return create(self, document, **options)

    monkeypatch.setattr(ARCRest, "create_jobs", recorded)
    context = engine_for(stack)
    assert handover_cycle(context) == 4
    assert submit_cycle(context, stack.cluster) == 4
    assert len(posts) == 2, "one POST per language"
    [adl_post] = [post for post in posts if post.startswith("<")]
    [xrsl_post] = [post for post in posts if post.startswith("+")]
    assert adl_post.startswith("<ActivityDescriptions>") and adl_post.count("<ActivityDescription ") == 2
    assert "<QueueName>fork</QueueName>" in adl_post and "<nordugrid-adl:DelegationID " in adl_post
    assert xrsl_post.count("(&") == 2
    rows = stack.jobs(ids)
    assert {row["a_arcstate"] for row in rows.values()} == {"submitted"}


    stack.start_engine()
    stack.wait_for(ids, {"done"})
    # Asked only now: A-REX writes a new job's name into its info a little later.
    ce_ids = [rows[job_id]["a_IDFromEndpoint"] for job_id in ids]
    infos = {r.job_id: r.unwrap() for r in arc_rest.get_jobs_info(ce_ids)}
    for index, ce_id in enumerate(ce_ids):  # reconciliation finds ADL jobs by their token as it finds xRSL ones
        assert re.fullmatch(rf"mixed-{index} actf:[0-9a-f]{{16}}:\d+", infos[ce_id].name or ""), infos[ce_id].name
    for index, job_id in enumerate(ids):
        ce_id = stack.jobs([job_id])[job_id]["a_IDFromEndpoint"]
        expected = f"input {index}\n".upper() if index % 2 == 0 else f"input {index}\n"
        assert (stack.config.results_dir / ce_id / "out.txt").read_text() == expected
    stack.clean(ids)


def refusals(stack: Stack, ids: list[int]) -> dict[int, tuple[str, bool, str]]:
    """client id → (arcstate, whether the refusal clock runs, Error)."""
    query = (sa.select(clientjobs.c.id, arcjobs.c.arcstate, arcjobs.c.refusedsince, arcjobs.c.Error)
             .join(arcjobs, arcjobs.c.id == clientjobs.c.arcjobid).where(clientjobs.c.id.in_(ids)))
    with stack.store.engine.connect() as connection:
        return {row.id: (row.arcstate, row.refusedsince is not None, row.Error or "")
                for row in connection.execute(query)}


def test_a_job_the_ce_refuses_in_one_language_does_not_hold_back_the_other_language(
    make_stack: StackFactory, arc_rest: ARCRest
) -> None:
    stack = make_stack("sqlite", engines=0)
    # ARC's ADL parser refuses NetworkInfo; we pass it on, as everything we do not model.
    refused = UPPER.format(name="refused", source="").replace(
        "<DataStaging>", "<Resources><NetworkInfo>gigabitethernet</NetworkInfo></Resources>\n  <DataStaging>")
    descriptions = [refused, UPPER.format(name="fine", source=""),
                    '&(executable="/bin/true")(jobname="also-fine")']
    ids = stack.submit(descriptions, lambda index, _: {"in.txt": b"x\n"} if index < 2 else {})
    context = engine_for(stack)
    assert handover_cycle(context) == 3
    with pytest.raises(CEUnreachableError, match=r"the CE refused 1 job\(s\)"):
        submit_cycle(context, stack.cluster)
    states = refusals(stack, ids)
    assert states[ids[0]][:2] == ("tosubmit", True)
    assert [states[i][0] for i in ids[1:]] == ["submitted", "submitted"], "both other jobs went"
    stack.action("cancel", ids[:1])  # waiting, it goes at once
    stack.start_engine()
    stack.wait_for(ids[1:], {"done"})
    stack.clean(ids[1:])


def test_when_the_ce_refuses_one_languages_post_the_other_waits_untried(
    make_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack("sqlite", engines=0)
    ids = stack.submit([UPPER.format(name="adl", source=""), '&(executable="/bin/true")(jobname="xrsl")'],
                       lambda index, _: {"in.txt": b"x\n"} if index == 0 else {})
    posts: list[str] = []

    def full(self: ARCRest, document: str, **options: str | None) -> list:
        posts.append(document)
        raise ARCHTTPError(500, "No more jobs allowed", "create jobs")

    monkeypatch.setattr(ARCRest, "create_jobs", full)
    context = engine_for(stack)
    assert handover_cycle(context) == 2
    with pytest.raises(CEUnreachableError, match="No more jobs allowed"):
        submit_cycle(context, stack.cluster)
    assert len(posts) == 1 and posts[0].startswith("<ActivityDescription "), "the xRSL job was not sent"
    states = refusals(stack, ids)
    assert states[ids[0]][:2] == ("tosubmit", True), "refused: its clock runs"
    assert states[ids[1]][:2] == ("tosubmit", False), "not tried: its clock does not run"
    assert "No more jobs allowed" in states[ids[1]][2]
