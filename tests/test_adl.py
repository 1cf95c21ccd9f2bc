"""ADL job descriptions: reading, the model's fields, changes, writing back, errors and XML attacks."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from actframework import jobdesc
from actframework.arc.submit import prepare_job
from actframework.errors import ADLError, ADLParseError, DescriptionParseError
from actframework.jobdesc import ADLDescription, InputFile, Language, OutputFile
from actframework.jobdesc.adl import ADL_NS, NORDUGRID_NS

NS = f'xmlns="{ADL_NS}" xmlns:ng="{NORDUGRID_NS}"'

FULL = f"""<ActivityDescription {NS} xmlns:x="urn:example" x:origin="portal">
  <ActivityIdentification>
    <Name>full</Name>
    <Annotation>kept</Annotation>
    <x:Tracking id="42">unknown elements stay</x:Tracking>
  </ActivityIdentification>
  <Application>
    <Executable><Path>run.sh</Path><Argument>-n</Argument><Argument>two words</Argument></Executable>
    <Input>in.txt</Input>
    <Output>out.txt</Output>
    <Error>err.txt</Error>
    <Environment><Name>MODE</Name><Value>fast</Value></Environment>
    <ng:Rerun>2</ng:Rerun>
    <ng:Priority>70</ng:Priority>
    <ng:LoggingDirectory>log</ng:LoggingDirectory>
  </Application>
  <Resources>
    <RuntimeEnvironment><Name>ENV/PYTHON</Name></RuntimeEnvironment>
    <QueueName>short</QueueName>
    <WallTime>3600</WallTime>
  </Resources>
  <DataStaging>
    <InputFile><Name>in.txt</Name></InputFile>
    <InputFile><Name>data.bin</Name><Source><URI>https://se.example.org/data.bin</URI>\
<DelegationID>own</DelegationID><Option><Name>cache</Name><Value>no</Value></Option></Source>\
<Source><URI>https://mirror.example.org/data.bin</URI></Source><IsExecutable>false</IsExecutable></InputFile>
    <InputFile x:note="local"><Name>local.txt</Name><Source><URI>sub/local.txt</URI></Source></InputFile>
    <OutputFile><Name>out.txt</Name></OutputFile>
    <OutputFile><Name>result.root</Name><Target><URI>https://se.example.org/result.root</URI>\
<Mandatory>true</Mandatory></Target></OutputFile>
    <ng:DelegationID>job-delegation</ng:DelegationID>
  </DataStaging>
</ActivityDescription>"""


def one(text: str) -> ADLDescription:
    job = jobdesc.parse_one(text)
    assert isinstance(job, ADLDescription)
    return job


def activity(body: str) -> str:
    return f"<ActivityDescription {NS}>{body}</ActivityDescription>"


# --------------------------------------------------------------------------- reading


def test_the_model_reads_every_field_where_arc_reads_it() -> None:
    job = one(FULL)
    assert job.language is Language.ADL
    assert (job.name, job.executable, job.arguments) == ("full", "run.sh", ["-n", "two words"])
    assert (job.stdin, job.stdout, job.stderr) == ("in.txt", "out.txt", "err.txt")
    assert job.inputs == [InputFile("in.txt", ""), InputFile("data.bin", "https://se.example.org/data.bin"),
                          InputFile("local.txt", "sub/local.txt")]
    assert job.outputs == [OutputFile("out.txt", ""), OutputFile("result.root", "https://se.example.org/result.root")]
    assert (job.queue, job.delegation_id, job.log_dir, job.rerun, job.priority) == (
        "short", "job-delegation", "log", 2, 70)
    assert [entry.is_local for entry in job.inputs] == [True, False, True]


def test_an_empty_activity_has_no_values() -> None:
    job = one(activity(""))
    assert (job.name, job.executable, job.stdin, job.queue, job.delegation_id, job.log_dir) == (None,) * 6
    assert (job.arguments, job.inputs, job.outputs, job.rerun, job.priority) == ([], [], [], None, None)


def test_the_logging_directory_is_read_in_any_namespace_as_arc_does() -> None:
    assert one(activity("<Application><LoggingDirectory>gm</LoggingDirectory></Application>")).log_dir == "gm"
    assert one(activity('<Application><o:LoggingDirectory xmlns:o="urn:other">gm</o:LoggingDirectory>'
                        "</Application>")).log_dir == "gm"


def test_prefixed_adl_reads_the_same() -> None:
    prefixed = (f'<adl:ActivityDescription xmlns:adl="{ADL_NS}"><adl:ActivityIdentification><adl:Name>p</adl:Name>'
                "</adl:ActivityIdentification><adl:Application><adl:Executable><adl:Path>/bin/true</adl:Path>"
                "</adl:Executable></adl:Application></adl:ActivityDescription>")
    job = one(prefixed)
    assert (job.name, job.executable) == ("p", "/bin/true")
    job.set_queue("q")
    job.set_inputs([InputFile("a", "")])
    assert "<adl:Resources><adl:QueueName>q</adl:QueueName></adl:Resources>" in job.unparse()
    assert "<adl:DataStaging><adl:InputFile><adl:Name>a</adl:Name></adl:InputFile></adl:DataStaging>" in job.unparse()


# --------------------------------------------------------------------------- writing back


def test_unparse_gives_back_the_document_without_declaration_and_comments() -> None:
    text = f'<?xml version="1.0" encoding="UTF-8"?>\n<!-- my job -->\n{FULL}'
    assert one(text).unparse() == FULL
    assert one(FULL.replace("<Name>full</Name>", "<!-- inside --><Name>full</Name>")).unparse() == FULL.replace(
        "<Name>full</Name>", "<Name>full</Name>")


def test_round_trips_keep_unknown_elements_attributes_and_prefixes() -> None:
    job = one(FULL)
    again = one(job.unparse())
    assert again == job and again.unparse() == FULL
    text = job.unparse()
    for kept in ('x:origin="portal"', '<x:Tracking id="42">unknown elements stay</x:Tracking>',
                 "<Annotation>kept</Annotation>", "<Environment><Name>MODE</Name><Value>fast</Value></Environment>",
                 '<InputFile x:note="local">', "<WallTime>3600</WallTime>", "<Mandatory>true</Mandatory>",
                 "<ng:Rerun>2</ng:Rerun>"):
        assert kept in text, kept


def test_special_characters_survive() -> None:
    job = one(activity("<Application><Executable><Path>/bin/sh</Path><Argument>a &lt; b &amp;&amp; c &gt; &#233;"
                       "</Argument><Argument><![CDATA[<raw> & stuff]]></Argument></Executable></Application>"))
    assert job.arguments == ["a < b && c > é", "<raw> & stuff"]
    assert one(job.unparse()).arguments == job.arguments


# --------------------------------------------------------------------------- changing


def test_setters_add_missing_elements_in_schema_order() -> None:
    job = one(activity("<Application><Executable><Path>/bin/true</Path></Executable></Application>"
                       "<Resources><WallTime>60</WallTime></Resources>"))
    job.set_name("named")
    job.set_queue("fork")
    job.set_delegation_id("d1")
    assert job.unparse() == activity(
        "<ActivityIdentification><Name>named</Name></ActivityIdentification>"
        "<Application><Executable><Path>/bin/true</Path></Executable></Application>"
        "<Resources><QueueName>fork</QueueName><WallTime>60</WallTime></Resources>"
        "<DataStaging><ng:DelegationID>d1</ng:DelegationID></DataStaging>")
    assert (job.name, job.queue, job.delegation_id) == ("named", "fork", "d1")


def test_a_nordugrid_element_brings_its_namespace_when_the_document_has_none() -> None:
    job = one(f'<ActivityDescription xmlns="{ADL_NS}"/>')
    job.set_delegation_id("d2")
    assert job.unparse() == (f'<ActivityDescription xmlns="{ADL_NS}"><DataStaging><nordugrid-adl:DelegationID '
                             f'xmlns:nordugrid-adl="{NORDUGRID_NS}">d2</nordugrid-adl:DelegationID></DataStaging>'
                             "</ActivityDescription>")
    assert one(job.unparse()).delegation_id == "d2"


def test_setters_replace_existing_values_where_they_stand() -> None:
    job = one(FULL)
    job.set_name("renamed")
    job.set_queue("long")
    job.set_delegation_id("other")
    expected = (FULL.replace("<Name>full</Name>", "<Name>renamed</Name>")
                .replace("<QueueName>short</QueueName>", "<QueueName>long</QueueName>")
                .replace(">job-delegation<", ">other<"))
    assert job.unparse() == expected


def test_set_inputs_keeps_what_it_does_not_model_and_follows_the_new_order() -> None:
    job = one(FULL)
    job.set_inputs([InputFile("local.txt", "/srv/inputs/7/local.txt"), InputFile("data.bin", "https://new/d"),
                    InputFile("run.sh", "")])
    assert job.inputs == [InputFile("local.txt", "/srv/inputs/7/local.txt"), InputFile("data.bin", "https://new/d"),
                          InputFile("run.sh", "")]
    text = job.unparse()
    assert '<InputFile x:note="local"><Name>local.txt</Name><Source><URI>/srv/inputs/7/local.txt</URI>' in text
    assert ("<Source><URI>https://new/d</URI><DelegationID>own</DelegationID><Option><Name>cache</Name>"
            "<Value>no</Value></Option></Source><IsExecutable>false</IsExecutable>") in text
    assert "mirror.example.org" not in text, "the old location's alternatives go with it"
    assert "<InputFile><Name>in.txt</Name>" not in text, "an input left out is removed"
    assert text.index("<Name>run.sh</Name>") < text.index("<OutputFile>") < text.index("<ng:DelegationID>")


def test_an_empty_source_means_upload_and_removes_the_sources() -> None:
    job = one(FULL)
    job.set_inputs([InputFile("data.bin", "")])
    assert job.inputs == [InputFile("data.bin", "")]
    assert "<InputFile><Name>data.bin</Name><IsExecutable>false</IsExecutable></InputFile>" in job.unparse()


def test_set_outputs_adds_and_points_targets() -> None:
    job = one(FULL)
    job.set_outputs([OutputFile("result.root", "https://se.example.org/result.root"), OutputFile("log/", ""),
                     OutputFile("out.txt", "https://se/out")])
    assert job.outputs == [OutputFile("result.root", "https://se.example.org/result.root"), OutputFile("log/", ""),
                           OutputFile("out.txt", "https://se/out")]
    assert "<Target><URI>https://se.example.org/result.root</URI><Mandatory>true</Mandatory></Target>" in job.unparse()
    job.set_outputs([])
    assert job.outputs == [] and "<OutputFile>" not in job.unparse()


def test_files_on_a_job_without_data_staging() -> None:
    job = one(activity("<Application><Executable><Path>/bin/true</Path></Executable></Application>"))
    job.set_outputs([])
    assert "DataStaging" not in job.unparse()
    job.set_inputs([InputFile("a", "https://h/a")])
    job.set_outputs([OutputFile("b", "")])
    assert job.unparse().endswith("<DataStaging><InputFile><Name>a</Name><Source><URI>https://h/a</URI></Source>"
                                  "</InputFile><OutputFile><Name>b</Name></OutputFile></DataStaging>"
                                  "</ActivityDescription>")


def test_copy_is_independent() -> None:
    job = one(FULL)
    copied = job.copy()
    copied.set_name("copy")
    copied.set_inputs([])
    assert job.name == "full" and len(job.inputs) == 3
    assert copied != job


# --------------------------------------------------------------------------- prepared for a CE


def test_submission_adds_what_arcsub_adds_and_keeps_the_rest(tmp_path: Path) -> None:
    """What the engine sends for one ADL job: the user's elements, the
    token in the name, the implied input and outputs, uploads for the
    local files, queue and delegation (REST 1.0)."""
    (tmp_path / "run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "in.txt").write_text("x")
    user = one(FULL.replace("<Input>in.txt</Input>", "").replace("<ng:DelegationID>job-delegation</ng:DelegationID>",
                                                                  "").replace("<QueueName>short</QueueName>", ""))
    user.set_name("full actf:0123456789abcdef:7")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "local.txt").write_text("y")
    prepared = prepare_job(user, input_dir=tmp_path, queue="fork", delegation_id="dg")
    sent = prepared.description
    assert sent.inputs == [InputFile("in.txt", ""), InputFile("data.bin", "https://se.example.org/data.bin"),
                           InputFile("local.txt", ""), InputFile("run.sh", "")]
    assert sent.outputs == [OutputFile("out.txt", ""), OutputFile("result.root", "https://se.example.org/result.root"),
                            OutputFile("err.txt", ""), OutputFile("log/", "")]
    assert prepared.uploads == (("in.txt", tmp_path / "in.txt"), ("local.txt", tmp_path / "sub" / "local.txt"),
                                ("run.sh", tmp_path / "run.sh"))
    assert (sent.queue, sent.delegation_id, sent.name) == ("fork", "dg", "full actf:0123456789abcdef:7")
    text = sent.unparse()
    assert '<x:Tracking id="42">unknown elements stay</x:Tracking>' in text and '<InputFile x:note="local">' in text
    assert user.queue is None and user.delegation_id is None, "the caller's job is left as it was"
    kept = prepare_job(one(FULL), input_dir=tmp_path, queue="fork", delegation_id="dg", into_description=False)
    assert (kept.description.queue, kept.description.delegation_id) == ("short", "job-delegation")


# --------------------------------------------------------------------------- several jobs


def test_activitydescriptions_split_into_standalone_jobs_and_wrap_again() -> None:
    text = (f'<ActivityDescriptions xmlns:ng="{NORDUGRID_NS}">\n'
            f'  <ActivityDescription xmlns="{ADL_NS}"><ActivityIdentification><Name>one</Name>'
            "</ActivityIdentification><Application><ng:Priority>5</ng:Priority></Application></ActivityDescription>\n"
            f'  <a:ActivityDescription xmlns:a="{ADL_NS}"><a:ActivityIdentification><a:Name>two</a:Name>'
            "</a:ActivityIdentification></a:ActivityDescription>\n"
            "</ActivityDescriptions>")
    jobs = jobdesc.parse(text)
    assert [job.name for job in jobs] == ["one", "two"]
    alone = jobs[0].unparse()
    assert f'xmlns:ng="{NORDUGRID_NS}"' in alone, "a job keeps the declarations it used from the wrapper"
    assert one(alone).priority == 5
    written = jobdesc.unparse(jobs)
    assert written.startswith("<ActivityDescriptions><ActivityDescription ") and written.endswith(
        "</a:ActivityDescription></ActivityDescriptions>")
    assert [job.name for job in jobdesc.parse(written)] == ["one", "two"]


def test_the_wrapper_may_be_in_a_namespace() -> None:
    jobs = jobdesc.parse(f'<w:ActivityDescriptions xmlns:w="urn:any"><ActivityDescription xmlns="{ADL_NS}"/>'
                         f'<ActivityDescription xmlns="{ADL_NS}"/></w:ActivityDescriptions>')
    assert len(jobs) == 2


def test_one_job_in_a_wrapper_is_one_job() -> None:
    [job] = jobdesc.parse(f"<ActivityDescriptions>{activity('')}</ActivityDescriptions>")
    assert job.unparse() == activity("").replace("></ActivityDescription>", "/>")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("text", "line", "column", "message"), [
    (f"<ActivityDescription {NS}>\n  <Application>\n</ActivityDescription>", 3, 1,
     "expected </Application> to close the <Application> at line 2, column 3"),
    (f"<ActivityDescription {NS}>\n  <Application>", 2, 16,
     "the document ends before the <Application> at line 2, column 3 is closed"),
    ("", 1, 1, "empty document"),
    (f"{activity('')}\n{activity('')}", 2, 1, "several jobs go into one <ActivityDescriptions>"),
    (activity("<ActivityIdentification><Name>&nbsp;</Name></ActivityIdentification>"), 1, 157,
     "undefined entity"),
    (activity("<q:Queue/>"), 1, 127, "a namespace prefix is used without its xmlns: declaration"),
    (activity("<Application a='1' a='2'/>"), 1, 146, "duplicate attribute"),
    ("<job/>", 1, 1, "expected <ActivityDescription> as the root element, found <job>"),
    ("<ActivityDescription/>", 1, 1, f'<ActivityDescription> must be in the ADL namespace: xmlns="{ADL_NS}"'),
    (f"<ActivityDescriptions>\n  {activity('')}\n  <Job/>\n</ActivityDescriptions>", 3, 3,
     "expected <ActivityDescription> inside <ActivityDescriptions>, found <Job>"),
    ("<ActivityDescriptions>\n</ActivityDescriptions>", 1, 1, "<ActivityDescriptions> holds no <ActivityDescription>"),
    (activity("\n<DataStaging>\n  <InputFile><Source><URI>x</URI></Source></InputFile>\n</DataStaging>"), 3, 3,
     "InputFile without a Name"),
    (activity("<DataStaging><OutputFile>\n<Name>o</Name><Target><URI> </URI></Target></OutputFile></DataStaging>"),
     2, 15, "Target of OutputFile 'o' without a URI"),
    (activity("<DataStaging><InputFile><Name>i</Name>\n<Source/></InputFile></DataStaging>"), 2, 1,
     "Source of InputFile 'i' without a URI"),
    (activity("<Application>\n  <ng:Priority>high</ng:Priority></Application>"), 2, 3,
     "Priority must be a whole number, not 'high'"),
    (activity("<Application><ng:Rerun>1.5</ng:Rerun></Application>"), 1, 140,
     "Rerun must be a whole number, not '1.5'"),
])
def test_malformed_adl_is_refused_with_line_and_column(text: str, line: int, column: int, message: str) -> None:
    with pytest.raises(ADLParseError) as caught:
        jobdesc.adl.parse(text)
    error = caught.value
    assert (error.line, error.column) == (line, column), str(error)
    assert message in str(error)
    assert str(error).startswith(f"line {line}, column {column}: ")
    assert isinstance(error, DescriptionParseError) and isinstance(error, ADLError)


def test_a_file_name_is_in_the_message(tmp_path: Path) -> None:
    path = tmp_path / "job.adl"
    path.write_text(f"<ActivityDescription {NS}>\n<Application>\n")
    with pytest.raises(ADLParseError, match=rf"^{path}: line 3, column 1: the document ends before"):
        jobdesc.parse_file(path)


def test_a_file_is_decoded_as_its_declaration_says(tmp_path: Path) -> None:
    path = tmp_path / "latin.adl"
    name = activity("<ActivityIdentification><Name>caf\xe9</Name></ActivityIdentification>")
    path.write_bytes(f'<?xml version="1.0" encoding="ISO-8859-1"?>\n{name}'.encode("latin-1"))
    assert one_file(path).name == "café"
    path.write_bytes(b"\xef\xbb\xbf  " + activity("").encode())
    assert one_file(path).name is None


def one_file(path: Path) -> jobdesc.JobDescription:
    [job] = jobdesc.parse_file(path)
    return job


def test_text_with_an_encoding_declaration_is_read_as_the_text_it_is() -> None:
    name = activity("<ActivityIdentification><Name>café</Name></ActivityIdentification>")
    text = f'<?xml version="1.0" encoding="ISO-8859-1"?>{name}'
    assert one(text).name == "café"


def test_model_values_that_do_not_fit_raise_adl_errors() -> None:
    job = one(activity(""))
    job.root.append(job.root.makeelement(f"{{{ADL_NS}}}Application"))
    job.root[0].append(job.root.makeelement(f"{{{NORDUGRID_NS}}}Priority"))
    job.root[0][0].text = "x"
    with pytest.raises(ADLError, match="Priority must be a whole number, not 'x'"):
        job.priority  # noqa: B018
    with pytest.raises(ADLError, match="a job is an ActivityDescription"):
        ADLDescription(job.root[0])
    with pytest.raises(ADLError, match="no jobs to write"):
        jobdesc.adl.unparse([])


# --------------------------------------------------------------------------- attacks


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE ActivityDescription [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<ActivityDescription xmlns="http://www.eu-emi.eu/es/2010/12/adl">
 <ActivityIdentification><Name>&lol9;</Name></ActivityIdentification>
</ActivityDescription>"""


def refused(text: str | bytes) -> ADLParseError:
    started = time.monotonic()
    with pytest.raises(ADLParseError) as caught:
        jobdesc.adl.parse(text)
    assert time.monotonic() - started < 1, "refused at once, nothing expanded"
    assert "document type declaration" in str(caught.value)
    return caught.value


def test_billion_laughs_is_refused_where_the_doctype_starts() -> None:
    error = refused(BILLION_LAUGHS)
    assert (error.line, error.column) == (2, 31)  # where expat has read the DOCTYPE's name and its '['
    assert "lol" not in str(error).replace("<!DOCTYPE ActivityDescription>", "")


def test_quadratic_blowup_is_refused() -> None:
    big = "x" * 100_000
    refused(f'<!DOCTYPE a [<!ENTITY big "{big}">]>' + activity("<ActivityIdentification><Name>"
                                                               + "&big;" * 10_000 + "</Name></ActivityIdentification>"))


def test_an_external_entity_does_not_read_local_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    text = (f'<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>\n'
            + activity("<ActivityIdentification><Name>&xxe;</Name></ActivityIdentification>"))
    error = refused(text)
    assert "TOP-SECRET-MARKER" not in str(error)
    refused(text.encode())


def test_external_dtds_and_parameter_entities_never_reach_the_network() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        connections: list[object] = []

        def accept() -> None:
            try:
                connections.append(listener.accept())
            except OSError:
                pass

        watcher = threading.Thread(target=accept)
        watcher.start()
        url = f"http://127.0.0.1:{port}/evil.dtd"
        refused(f'<!DOCTYPE ActivityDescription SYSTEM "{url}">' + activity(""))
        refused(f'<!DOCTYPE a [<!ENTITY % remote SYSTEM "{url}"> %remote;]>' + activity(""))
        refused(f'<!DOCTYPE a PUBLIC "-//evil//x" "{url}">' + activity(""))
        watcher.join()
    assert connections == [], "the parser connected to fetch a DTD"


def test_entity_references_without_a_dtd_are_undefined() -> None:
    with pytest.raises(ADLParseError, match="undefined entity"):
        jobdesc.parse(activity("<ActivityIdentification><Name>&xxe;</Name></ActivityIdentification>"))
