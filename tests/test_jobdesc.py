"""The job model over both languages: the same job reads the same in xRSL and
ADL, each is written back in its own language, and mixing them is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from actframework import jobdesc
from actframework.errors import (
    ADLError,
    DescriptionParseError,
    JobDescriptionError,
    XRSLError,
    XRSLParseError,
)
from actframework.jobdesc import InputFile, Language, OutputFile, XRSLDescription
from actframework.jobdesc.adl import ADL_NS, NORDUGRID_NS
from actframework.jobdesc.model import whole_number

XRSL_JOB = ('&(executable="run.sh")(arguments="-n" "two words")(jobname="same")(stdin="in.txt")'
            '(stdout="out.txt")(stderr="err.txt")(gmlog="log")(rerun="2")(priority="70")(queue="short")'
            '(delegationid="d1")(inputfiles=("in.txt" "")("data.bin" "https://se.example.org/data.bin"))'
            '(outputfiles=("out.txt" "")("result.root" "https://se.example.org/result.root"))')

ADL_JOB = f"""<ActivityDescription xmlns="{ADL_NS}" xmlns:ng="{NORDUGRID_NS}">
  <ActivityIdentification><Name>same</Name></ActivityIdentification>
  <Application>
    <Executable><Path>run.sh</Path><Argument>-n</Argument><Argument>two words</Argument></Executable>
    <Input>in.txt</Input><Output>out.txt</Output><Error>err.txt</Error>
    <ng:Rerun>2</ng:Rerun><ng:Priority>70</ng:Priority><ng:LoggingDirectory>log</ng:LoggingDirectory>
  </Application>
  <Resources><QueueName>short</QueueName></Resources>
  <DataStaging>
    <InputFile><Name>in.txt</Name></InputFile>
    <InputFile><Name>data.bin</Name><Source><URI>https://se.example.org/data.bin</URI></Source></InputFile>
    <OutputFile><Name>out.txt</Name></OutputFile>
    <OutputFile><Name>result.root</Name><Target><URI>https://se.example.org/result.root</URI></Target></OutputFile>
    <ng:DelegationID>d1</ng:DelegationID>
  </DataStaging>
</ActivityDescription>"""

FIELDS = ("name", "executable", "arguments", "stdin", "stdout", "stderr", "inputs", "outputs", "queue",
          "delegation_id", "log_dir", "rerun", "priority")


def fields(job: jobdesc.JobDescription) -> dict[str, object]:
    return {name: getattr(job, name) for name in FIELDS}


def test_the_same_job_reads_the_same_in_both_languages() -> None:
    xrsl_job, adl_job = jobdesc.parse_one(XRSL_JOB), jobdesc.parse_one(ADL_JOB)
    assert (xrsl_job.language, adl_job.language) == (Language.XRSL, Language.ADL)
    assert fields(xrsl_job) == fields(adl_job) == {
        "name": "same", "executable": "run.sh", "arguments": ["-n", "two words"], "stdin": "in.txt",
        "stdout": "out.txt", "stderr": "err.txt",
        "inputs": [InputFile("in.txt", ""), InputFile("data.bin", "https://se.example.org/data.bin")],
        "outputs": [OutputFile("out.txt", ""), OutputFile("result.root", "https://se.example.org/result.root")],
        "queue": "short", "delegation_id": "d1", "log_dir": "log", "rerun": 2, "priority": 70,
    }
    assert xrsl_job.implied_inputs() == adl_job.implied_inputs() == [InputFile("run.sh", "")]
    assert xrsl_job.implied_outputs() == adl_job.implied_outputs() == [OutputFile("err.txt", ""),
                                                                        OutputFile("log/", "")]


@pytest.mark.parametrize("text", [XRSL_JOB, ADL_JOB])
def test_changes_read_back_the_same_in_both_languages(text: str) -> None:
    job = jobdesc.parse_one(text)
    job.set_name("changed")
    job.set_queue("long")
    job.set_delegation_id("d2")
    job.set_inputs([InputFile("data.bin", "https://other/data.bin"), InputFile("new.txt", "")])
    job.set_outputs([OutputFile("result.root", ""), OutputFile("log/", "")])
    written = job.unparse()
    assert Language.of(written) is job.language, "written back in the language it came in"
    again = jobdesc.parse_one(written)
    assert again == job
    assert (again.name, again.queue, again.delegation_id) == ("changed", "long", "d2")
    assert again.inputs == [InputFile("data.bin", "https://other/data.bin"), InputFile("new.txt", "")]
    assert again.outputs == [OutputFile("result.root", ""), OutputFile("log/", "")]
    assert (again.executable, again.arguments, again.priority) == ("run.sh", ["-n", "two words"], 70)


def test_xrsl_keeps_unknown_relations_and_file_options() -> None:
    job = jobdesc.parse_one('&(executable="/bin/true")(runtimeenvironment="ENV/X")(|(queue="a")(queue="b"))'
                            '(inputfiles=("in.txt" "" "cache=no"))(myattr=$(HOME)/x)')
    job.set_inputs([InputFile("in.txt", "https://se/in.txt")])
    assert job.unparse() == ('&(executable="/bin/true")(runtimeenvironment="ENV/X")(|(queue="a")(queue="b"))'
                             '(inputfiles=("in.txt" "https://se/in.txt" "cache=no"))(myattr=$(HOME)#"/x")')
    assert job.queue is None, "alternatives are not a queue"


def test_xrsl_values_only_the_ce_can_evaluate_raise_xrsl_errors() -> None:
    job = jobdesc.parse_one('&(executable=$(EXE))(arguments="a" $(B))(priority="high")(jobname="j")')
    assert job.name == "j"
    for field in ("executable", "arguments", "priority"):
        with pytest.raises(XRSLError):
            getattr(job, field)


@pytest.mark.parametrize(("text", "language"), [
    ('&(executable="/bin/true")', Language.XRSL), ('+(&(a="1"))(&(a="2"))', Language.XRSL),
    ("(* comment *)&(a=b)", Language.XRSL), ("", Language.XRSL),
    ("<ActivityDescription/>", Language.ADL), ('\n  <?xml version="1.0"?><a/>', Language.ADL),
    ("<!-- c --><a/>", Language.ADL),
])
def test_the_language_is_told_by_the_first_character(text: str, language: Language) -> None:
    assert Language.of(text) is language


def test_each_language_has_the_content_type_a_rex_expects() -> None:
    assert (Language.XRSL.content_type, Language.ADL.content_type) == ("application/rsl", "application/xml")


def test_several_jobs_of_a_language_are_one_document_of_it() -> None:
    xrsl_jobs = jobdesc.parse('+(&(executable="/bin/a"))(&(executable="/bin/b"))')
    assert [job.executable for job in xrsl_jobs] == ["/bin/a", "/bin/b"]
    assert jobdesc.unparse(xrsl_jobs) == '+(&(executable="/bin/a"))(&(executable="/bin/b"))'
    adl_jobs = [jobdesc.parse_one(ADL_JOB), jobdesc.parse_one(ADL_JOB)]
    assert jobdesc.unparse(adl_jobs).startswith("<ActivityDescriptions><ActivityDescription ")


def test_languages_are_not_mixed_in_one_document_but_grouped() -> None:
    mixed = [jobdesc.parse_one(ADL_JOB), jobdesc.parse_one(XRSL_JOB), jobdesc.parse_one(ADL_JOB)]
    with pytest.raises(JobDescriptionError, match="cannot be written as one document"):
        jobdesc.unparse(mixed)
    with pytest.raises(JobDescriptionError, match="no jobs"):
        jobdesc.unparse([])
    groups = jobdesc.by_language(list(enumerate(mixed)), lambda item: item[1].language)
    assert list(groups) == [Language.ADL, Language.XRSL], "in the order the languages first appear"
    assert [index for index, _ in groups[Language.ADL]] == [0, 2]
    assert [index for index, _ in groups[Language.XRSL]] == [1]


def test_parse_one_wants_exactly_one_job() -> None:
    with pytest.raises(JobDescriptionError, match="holds 2 jobs"):
        jobdesc.parse_one(f"<ActivityDescriptions>{ADL_JOB}{ADL_JOB}</ActivityDescriptions>")
    assert isinstance(jobdesc.parse_one(XRSL_JOB), XRSLDescription)


def test_parse_wants_text() -> None:
    with pytest.raises(JobDescriptionError, match="must be text, not bytes"):
        jobdesc.parse(b"&(a=b)")  # type: ignore[arg-type]


def test_files_of_either_language(tmp_path: Path) -> None:
    (tmp_path / "job.xrsl").write_bytes(b"\xef\xbb\xbf" + XRSL_JOB.encode())
    (tmp_path / "job.adl").write_text(ADL_JOB)
    assert [job.language for job in jobdesc.parse_file(tmp_path / "job.xrsl")] == [Language.XRSL]
    assert [job.language for job in jobdesc.parse_file(tmp_path / "job.adl")] == [Language.ADL]
    with pytest.raises(JobDescriptionError, match="cannot read job description .*missing"):
        jobdesc.parse_file(tmp_path / "missing")
    (tmp_path / "latin.xrsl").write_bytes('&(jobname="caf\xe9")'.encode("latin-1"))
    with pytest.raises(XRSLParseError, match="latin.xrsl: line 1, column 15: the file is not UTF-8 text"):
        jobdesc.parse_file(tmp_path / "latin.xrsl")


def test_parse_errors_of_both_languages_say_line_and_column() -> None:
    errors = []
    for text in ('&(executable="/bin/true"\n(jobname="x"', f"<ActivityDescription xmlns='{ADL_NS}'>\n<a>"):
        with pytest.raises(DescriptionParseError) as caught:
            jobdesc.parse(text)
        errors.append(caught.value)
    assert isinstance(errors[0], XRSLParseError) and isinstance(errors[1], ADLError)
    assert [(error.line, error.column) for error in errors] == [(2, 9), (2, 4)]


@pytest.mark.parametrize(("text", "value"), [("42", 42), (" -5 ", -5), ("+7", 7), (None, None)])
def test_whole_numbers(text: str | None, value: int | None) -> None:
    assert whole_number(text, "Priority", ADLError) == value


@pytest.mark.parametrize("text", ["1_000", "1.5", "", "²", "0x10", "- 1"])
def test_what_int_would_take_but_the_ce_would_not_is_refused(text: str) -> None:
    with pytest.raises(ADLError, match="Priority must be a whole number"):
        whole_number(text, "Priority", ADLError)
