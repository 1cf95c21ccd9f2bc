"""The plugin core: managers built from in-memory backends, no entry-point scan
(except where a test is about the installed backends)."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path

import pytest

from actframework.errors import (
    ActError,
    BackendLoadError,
    ConfigError,
    DuplicateBackendError,
    StorageError,
    UnknownBackendError,
)
from actframework.hookspecs import (
    Caller,
    Credentials,
    InputFile,
    ResultLocation,
    StagedFile,
    StorageContext,
    StorageJob,
    hookimpl,
)
from actframework.plugins import (
    BackendInfo,
    StorageManager,
    find_conflicts,
    installed_backends,
    load_backend,
)

from fixtures.required import unavailable

CLIENT = StorageContext(Caller.CLIENT, Credentials(proxy=Path("/tmp/x509up_u0")))
JOB = StorageJob(
    id=7,
    description='&(executable="run.sh")(inputfiles=("in.txt" ""))',
    inputs=(InputFile("in.txt", ""), InputFile("remote", "https://example.org/remote")),
)


class RecordingBackend:
    """A complete backend that records what it was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    @hookimpl
    def act_stage_inputs(self, context: StorageContext, job: StorageJob) -> Sequence[StagedFile]:
        self.calls.append(("stage", context.caller))
        return [StagedFile(i.name, f"mem://{job.id}/{i.name}", 3) for i in job.inputs if i.is_local]

    @hookimpl
    def act_rewrite_description(
        self, context: StorageContext, job: StorageJob, staged: Sequence[StagedFile]
    ) -> str:
        self.calls.append(("rewrite", [s.location for s in staged]))
        return job.description.replace('""', f'"{staged[0].location}"')

    @hookimpl
    def act_retrieve_results(
        self, context: StorageContext, job: StorageJob, destination: Path
    ) -> ResultLocation:
        self.calls.append(("retrieve", destination))
        return ResultLocation(job.id, str(destination), ("out.txt",))

    @hookimpl
    def act_clean_up(self, context: StorageContext, job: StorageJob) -> bool:
        self.calls.append(("clean", job.id))
        return True


def test_manager_calls_every_hook_of_an_in_memory_backend_with_typed_records(tmp_path: Path) -> None:
    backend = RecordingBackend()
    manager = StorageManager("memory", backend)

    staged = manager.stage_inputs(CLIENT, JOB)
    assert staged == [StagedFile("in.txt", "mem://7/in.txt", 3)]
    assert manager.rewrite_description(CLIENT, JOB, staged) == (
        '&(executable="run.sh")(inputfiles=("in.txt" "mem://7/in.txt"))'
    )
    assert manager.retrieve_results(CLIENT, JOB, tmp_path) == ResultLocation(7, str(tmp_path), ("out.txt",))
    assert manager.clean_up(CLIENT, JOB) is True
    assert [name for name, _ in backend.calls] == ["stage", "rewrite", "retrieve", "clean"]
    assert backend.calls[0] == ("stage", Caller.CLIENT)


def test_backend_missing_a_hook_is_refused_with_the_hook_named() -> None:
    class NoCleanup(RecordingBackend):
        act_clean_up = None  # type: ignore[assignment]

    with pytest.raises(BackendLoadError, match="does not implement: act_clean_up"):
        StorageManager("partial", NoCleanup())


def test_backend_with_a_misspelt_hook_is_refused() -> None:
    class Misspelt(RecordingBackend):
        @hookimpl
        def act_stage_input(self, context: StorageContext, job: StorageJob) -> list[StagedFile]:
            return []

    with pytest.raises(BackendLoadError, match="act_stage_input"):
        StorageManager("typo", Misspelt())


def test_backend_hook_with_an_argument_the_spec_lacks_is_refused() -> None:
    class ExtraArgument(RecordingBackend):
        @hookimpl
        def act_clean_up(self, context: StorageContext, job: StorageJob, force: bool) -> bool:
            return True

    with pytest.raises(BackendLoadError, match="force"):
        StorageManager("extra", ExtraArgument())


def test_backend_answering_nothing_is_a_storage_error() -> None:
    class Silent(RecordingBackend):
        @hookimpl
        def act_stage_inputs(self, context: StorageContext, job: StorageJob) -> None:
            return None

    manager = StorageManager("silent", Silent())
    with pytest.raises(StorageError, match="returned nothing from act_stage_inputs"):
        manager.stage_inputs(CLIENT, JOB)


def test_two_distributions_claiming_one_name_are_reported_as_a_conflict() -> None:
    listing = [
        BackendInfo("webdav", "actframework-webdav", "0.1.0", "actframework_webdav:WebDAVBackend"),
        BackendInfo("webdav", "site-webdav", "2.0", "site_webdav:Backend"),
        BackendInfo("dcache", "actframework-dcache", "0.1.0", "actframework_dcache:DCacheBackend"),
    ]
    assert find_conflicts(listing) == {"webdav": ["actframework-webdav", "site-webdav"]}
    error = DuplicateBackendError("webdav", ["site-webdav", "actframework-webdav"])
    assert str(error) == (
        "storage backend 'webdav' is registered by more than one distribution: "
        "actframework-webdav, site-webdav"
    )


def test_every_error_of_the_tree_is_an_act_error() -> None:
    assert issubclass(UnknownBackendError, ActError)
    assert issubclass(BackendLoadError, ActError)
    assert issubclass(StorageError, ActError)


def test_input_file_locality_follows_the_act_rule() -> None:
    assert InputFile("a", "").is_local and InputFile("a", "").local_path == Path("a")
    assert InputFile("a", "data/a.txt").is_local
    assert InputFile("a", "file:///abs/a.txt").local_path == Path("/abs/a.txt")
    assert not InputFile("a", "https://host/a").is_local
    assert not InputFile("a", "file://host/a").is_local
    assert not InputFile("a", "gsiftp://host/a").is_local


def test_credentials_never_show_a_token_in_their_repr() -> None:
    assert "s3cret" not in repr(Credentials(token="s3cret"))


# ----------------------------------------------------------------- installed backends


BUILTIN = {"actstore", "webdav", "dcache"}


def _require_builtin_backends() -> set[str]:
    names = {b.name for b in installed_backends()}
    if not BUILTIN <= names:
        unavailable("the plugins/ distributions", "not installed", "scripts/test installs them")
    return names


def test_unknown_backend_name_lists_the_installed_backends() -> None:
    names = _require_builtin_backends()
    with pytest.raises(UnknownBackendError) as info:
        load_backend("webdaw")
    assert info.value.installed == sorted(names)
    assert "installed backends: " in str(info.value) and "webdav" in str(info.value)


@pytest.mark.parametrize("name", sorted(BUILTIN - {"actstore"}))
def test_builtin_backend_loads_by_name_and_without_a_url_says_how_to_give_one(name: str) -> None:
    _require_builtin_backends()
    manager = load_backend(name)
    assert manager.name == name
    with pytest.raises(StorageError, match=f"the {name} backend needs a URL: --webdav URL"):
        manager.stage_inputs(CLIENT, JOB)


def test_actstore_without_the_servers_files_refuses_to_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _require_builtin_backends()
    monkeypatch.chdir(tmp_path)
    Path("in.txt").write_text("in\n")
    with pytest.raises(StorageError, match="stores on the aCT server, and there is none here"):
        load_backend("actstore").stage_inputs(CLIENT, JOB)


def test_no_hook_of_actstore_needs_the_server_when_there_is_nothing_to_upload(tmp_path: Path) -> None:
    _require_builtin_backends()
    backend = load_backend("actstore")
    remote_only = StorageJob(id=7, description=JOB.description, inputs=(JOB.inputs[1],))
    assert backend.stage_inputs(CLIENT, remote_only) == []
    assert backend.rewrite_description(CLIENT, remote_only, []) == JOB.description
    assert backend.retrieve_results(CLIENT, remote_only, tmp_path).files == ()
    assert backend.clean_up(CLIENT, remote_only) is False


def _actframework_imports(path: Path) -> set[str]:
    """The actframework modules a Python file imports (``from actframework
    import x`` counts as ``actframework.x``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "actframework":
                names.update(f"actframework.{alias.name}" for alias in node.names)
            else:
                names.add(node.module)
    return {name for name in names if name == "actframework" or name.startswith("actframework.")}


EXAMPLE_DISTS = Path(__file__).parent / "plugin_dists"


@pytest.mark.parametrize(
    "source", sorted(EXAMPLE_DISTS.glob("*/*/*.py")), ids=lambda path: str(path.relative_to(EXAMPLE_DISTS))
)
def test_the_example_backends_import_only_the_public_module(source: Path) -> None:
    """What lint-imports checks for the in-tree backends (the examples are
    not installed where it looks)."""
    assert _actframework_imports(source) <= {"actframework.storage", "actframework.testing"}


def test_backend_options_are_checked_when_it_loads() -> None:
    _require_builtin_backends()
    with pytest.raises(ConfigError, match="url must be an http"):
        load_backend("webdav", {"url": "ftp://example.org/dav"})
    with pytest.raises(ConfigError, match="unknown option 'continue'"):
        load_backend("dcache", {"continue": 3})
    assert load_backend("dcache", {"url": "https://door:2880/u/"}).backend.url == "https://door:2880/u"
