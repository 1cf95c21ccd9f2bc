"""``act``: the command line client users run on their own machines.

It reads the act-client compatible configuration (:class:`ClientConfig`)
and speaks to the server through :class:`~actframework.client.api.ACTClient`;
input and output files go through the configured storage backend
(``--storage``, config ``storage``, default ``actstore``). Commands, options
and messages are act-client 1.0.0's, without its bugs (act-spec §F.6–F.10):
commands that change jobs need ``--id``, ``--name``, ``--state`` or ``-a``.

Exit codes: 0 success, 1 an error (one line on stderr, no traceback), 2 a
usage error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import click

from actframework import __version__, xrsl
from actframework.client.api import ACTClient
from actframework.config import ClientConfig, write_private_file
from actframework.db.filters import parse_id_list
from actframework.errors import ActError, ConfigError, StoreError
from actframework.hookspecs import Caller, Credentials, InputFile, StorageContext, StorageJob
from actframework.plugins import StorageManager, load_backend

F = TypeVar("F", bound=Callable[..., Any])

#: Description files per submission batch (act-client's).
SUBMIT_BATCH = 100
#: Parallel job downloads in ``act get`` (act-client's).
GET_WORKERS = 10
DEFAULT_ARC_COLUMNS = "JobID,State,arcstate"
DEFAULT_CLIENT_COLUMNS = "id,jobname"


class _ActGroup(click.Group):
    """Turns every :class:`ActError` into one line on stderr and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ActError as exc:
            click.echo(str(exc), err=True)
            ctx.exit(1)


class Session:
    """What every command needs: the configuration and, on demand, a client."""

    def __init__(self, conf: Path | None, server: str | None, storage: str | None) -> None:
        self.config = ClientConfig.load(conf)
        self.server = server
        self.storage_name = storage or self.config.storage

    def client(self, need_token: bool = True) -> ACTClient:
        return ACTClient.from_config(self.config, server=self.server, need_token=need_token)

    def storage(self) -> StorageManager:
        return load_backend(self.storage_name)

    def storage_context(self, client: ACTClient) -> StorageContext:
        """The backend acts as the user: their proxy and token. The trusted
        CAs are left to the HTTP layer's rule (``$X509_CERT_DIR``, else the
        grid directory, else the system bundle), as for the server itself."""
        return StorageContext(caller=Caller.CLIENT, server_url=client.url,
                              credentials=Credentials(proxy=self.config.proxy, token=client.token))


pass_session = click.make_pass_decorator(Session)


@click.group(cls=_ActGroup, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--conf", type=click.Path(dir_okay=False, path_type=Path),
              help="Configuration file [default: ~/.config/act-client/config.yaml].")
@click.option("--server", help="aCT server URL, overriding `server:` in the configuration.")
@click.option("--storage", help="Storage backend for input and output files [default: config `storage`, "
              "else actstore].")
@click.version_option(__version__, prog_name="act")
@click.pass_context
def cli(ctx: click.Context, conf: Path | None, server: str | None, storage: str | None) -> None:
    """Submit and manage grid jobs through an ARC Control Tower server."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
        return
    ctx.obj = Session(conf, server, storage)


# --------------------------------------------------------------------------- selection


def job_filters(states: bool = True) -> Callable[[F], F]:
    """``-a``, ``-i``, ``-n`` (and ``-s``): which of the user's jobs a command touches."""

    def decorate(func: F) -> F:
        func = click.option("-a", "--all", "all_jobs", is_flag=True, help="All your jobs (with the other filters).")(func)
        func = click.option("-i", "--id", "ids", help="Job ids: 1,3,5-9.")(func)
        func = click.option("-n", "--name", help="Jobs whose name contains this.")(func)
        if states:
            func = click.option("-s", "--state", help="Jobs in this state.")(func)
        return func

    return decorate


def selected_ids(ids: str | None) -> str | None:
    """The ``--id`` list, checked here so that a typo is a usage error."""
    if ids is None:
        return None
    try:
        parse_id_list(ids)
    except StoreError as exc:
        raise click.BadParameter(str(exc), param_hint="--id") from None
    return ids


def require_selection(all_jobs: bool, ids: str | None, name: str | None, state: str | None = None) -> None:
    """Commands that change jobs never act on everything by accident."""
    if not (all_jobs or ids or name or state):
        raise click.UsageError("say which jobs: --id, --name, --state, or -a/--all for all of them")


# --------------------------------------------------------------------------- info, proxy


@cli.command()
@pass_session
def info(session: Session) -> None:
    """Show the server and the clusters it submits to."""
    with session.client() as act:
        answer = act.info()
    click.echo(f"aCT server URL: {act.url}")
    click.echo("Clusters:")
    for cluster in answer.get("clusters") or []:
        click.echo(cluster)


@cli.command()
@pass_session
def proxy(session: Session) -> None:
    """Delegate your proxy to the server and store the access token."""
    path = session.config.proxy
    if not path.is_file():
        raise ConfigError(f"proxy file {path} does not exist; create one (arcproxy) or set `proxy:`")
    with session.client(need_token=False) as act:
        token = act.delegate(path)
    write_private_file(session.config.token, token)
    click.echo(f"Successfully inserted proxy. Access token stored in {session.config.token}")


# --------------------------------------------------------------------------- stat


def render_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[str]:
    """act-client's table: each column as wide as its name (without the
    ``c_``/``a_`` prefix) or its widest value; empty values as ``''``."""
    def text(value: Any) -> str:
        return "''" if value in (None, "") else str(value)

    widths = [max([len(column[2:])] + [len(text(row.get(column))) for row in rows]) for column in columns]
    lines = [" ".join(column[2:].ljust(width) for column, width in zip(columns, widths)) + " ",
             "-" * (sum(widths) + len(columns) - 1)]
    for row in rows:
        lines.append(" ".join(text(row.get(column)).ljust(width) for column, width in zip(columns, widths)) + " ")
    return lines


@cli.command()
@job_filters()
@click.option("--arc", default=DEFAULT_ARC_COLUMNS, show_default=True, help="Engine columns to show.")
@click.option("--client", "client_cols", default=DEFAULT_CLIENT_COLUMNS, show_default=True,
              help="Client columns to show.")
@click.option("--get-cols", is_flag=True, help="List the columns you can show.")
@pass_session
def stat(session: Session, all_jobs: bool, ids: str | None, name: str | None, state: str | None,
         arc: str, client_cols: str, get_cols: bool) -> None:
    """Show your jobs."""
    with session.client() as act:
        if get_cols:
            answer = act.info()
            click.echo("arc columns:")
            click.echo(",".join(answer.get("arc") or []))
            click.echo()
            click.echo("client columns:")
            click.echo(",".join(answer.get("client") or []))
            return
        client_list = [c for c in client_cols.split(",") if c]
        arc_list = [c for c in arc.split(",") if c]
        rows = act.jobs(selected_ids(ids), name=name, state=state, client=client_list, arc=arc_list)
    if rows:
        columns = [f"c_{c}" for c in client_list] + [f"a_{c}" for c in arc_list]
        for line in render_table(rows, columns):
            click.echo(line)


# --------------------------------------------------------------------------- sub


@cli.command()
@click.option("--clusterlist", default="default", show_default=True,
              help="A cluster group of the configuration, or cluster URLs separated by commas.")
@click.option("--webdav", "webdav", is_flag=False, flag_value="webdav", default="",
              help="Stage inputs through WebDAV (the configured URL, or this one).")
@click.argument("descriptions", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@pass_session
def sub(session: Session, clusterlist: str, webdav: str, descriptions: tuple[Path, ...]) -> None:
    """Submit jobs described in xRSL files."""
    if webdav:
        session.storage_name = "webdav"
    clusters = session.config.resolve_clusterlist(clusterlist)
    storage = session.storage()
    with session.client() as act:
        for start in range(0, len(descriptions), SUBMIT_BATCH):
            batch = descriptions[start:start + SUBMIT_BATCH]
            click.echo(f"Submitting batch of {len(batch)} jobs ...")
            _submit_batch(session, act, storage, clusters, batch)


def _submit_batch(session: Session, act: ACTClient, storage: StorageManager, clusters: list[str],
                  files: Sequence[Path]) -> None:
    jobs: list[tuple[str, xrsl.XRSLJob]] = []
    for path in files:
        try:
            parsed = xrsl.parse_file(path)
        except ActError as exc:
            click.echo(f"Job description {path} not submitted: {exc}")
            continue
        jobs.extend((str(path), job) for job in parsed)
    if not jobs:
        return
    created = act.create_jobs([clusters] * len(jobs))
    context = session.storage_context(act)
    to_confirm: list[tuple[int, str, str]] = []
    to_kill: list[int] = []
    for (path, job), answer in zip(jobs, created, strict=True):
        name = job.get_string("jobname") or path
        if "msg" in answer:
            click.echo(f"Job {name} not submitted: {answer['msg']}")
            continue
        job_id = int(answer["id"])
        text = xrsl.unparse(job)
        storage_job = StorageJob(id=job_id, description=text, name=name,
                                 inputs=tuple(InputFile(n, s) for n, s in job.inputfiles))
        try:
            staged = storage.stage_inputs(context, storage_job)
            text = storage.rewrite_description(context, storage_job, staged)
        except ActError as exc:
            click.echo(f"Job {name} not submitted: {exc}")
            to_kill.append(job_id)
            continue
        to_confirm.append((job_id, name, text))
    if to_confirm:
        answers = act.confirm_jobs([(job_id, text) for job_id, _, text in to_confirm])
        for (job_id, name, _), answer in zip(to_confirm, answers, strict=True):
            if "msg" in answer:
                click.echo(f"Job {name} not submitted: {answer['msg']}")
                to_kill.append(job_id)
            else:
                click.echo(f"Inserted job {answer.get('name') or name} with ID {job_id}")
    if to_kill:
        click.echo("Cleaning up failed or cancelled jobs ...")
        act.kill(to_kill)


# --------------------------------------------------------------------------- kill, clean, fetch, resub


@cli.command()
@job_filters()
@pass_session
def kill(session: Session, all_jobs: bool, ids: str | None, name: str | None, state: str | None) -> None:
    """Kill jobs."""
    require_selection(all_jobs, ids, name, state)
    with session.client() as act:
        killed = act.kill(selected_ids(ids), name=name, state=state)
    click.echo(f"Will kill {len(killed)} jobs")


@cli.command()
@job_filters()
@pass_session
def clean(session: Session, all_jobs: bool, ids: str | None, name: str | None, state: str | None) -> None:
    """Remove finished, failed or cancelled jobs and their files."""
    require_selection(all_jobs, ids, name, state)
    with session.client() as act:
        cleaned = act.clean(selected_ids(ids), name=name, state=state)
    click.echo(f"Cleaned {len(cleaned)} jobs")


@cli.command()
@job_filters(states=False)
@pass_session
def fetch(session: Session, all_jobs: bool, ids: str | None, name: str | None) -> None:
    """Fetch the outputs of failed jobs (they become donefailed)."""
    require_selection(all_jobs, ids, name)
    with session.client() as act:
        fetched = act.fetch(selected_ids(ids), name=name)
    click.echo(f"Will fetch {len(fetched)} jobs")


@cli.command()
@job_filters(states=False)
@pass_session
def resub(session: Session, all_jobs: bool, ids: str | None, name: str | None) -> None:
    """Resubmit failed jobs from scratch."""
    require_selection(all_jobs, ids, name)
    with session.client() as act:
        resubmitted = act.resubmit(selected_ids(ids), name=name)
    click.echo(f"Will resubmit {len(resubmitted)} jobs")


# --------------------------------------------------------------------------- get


def free_directory(name: str) -> Path:
    """A new directory ``name``, or ``name_1``, ``name_2``, ...: an existing
    directory is never written into (created here, so that two jobs of the
    same name cannot pick the same one)."""
    number = 0
    while True:
        candidate = Path(name if number == 0 else f"{name}_{number}")
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            number += 1


@cli.command()
@job_filters()
@click.option("--use-jobname", is_flag=True, help="Name the download directories after the jobs.")
@click.option("--noclean", is_flag=True, help="Keep the jobs on the server after downloading.")
@pass_session
def get(session: Session, all_jobs: bool, ids: str | None, name: str | None, state: str | None,
        use_jobname: bool, noclean: bool) -> None:
    """Download the outputs of done and donefailed jobs, then clean them."""
    require_selection(all_jobs, ids, name, state)
    if state and state not in ("done", "donefailed"):
        raise click.BadParameter('State parameter not "done" or "donefailed"', param_hint="--state")
    storage = session.storage()
    with session.client() as act:
        wanted = selected_ids(ids)
        rows: list[dict[str, Any]] = []
        for one_state in ([state] if state else ["done", "donefailed"]):
            rows.extend(act.jobs(wanted, name=name, state=one_state, client=["id", "jobname"],
                                 arc=["IDFromEndpoint"]))
        if wanted is not None:
            found = {row["c_id"] for row in rows}
            selection = parse_id_list(wanted)
            for job_id in selection.singles:
                if job_id not in found:
                    click.echo(f"Job with ID {job_id:>8} does not exist or is not in proper state")
        context = session.storage_context(act)
        targets = [(row, free_directory(str(row["c_jobname"] if use_jobname else row["a_IDFromEndpoint"])))
                   for row in rows]

        def download(item: tuple[dict[str, Any], Path]) -> tuple[dict[str, Any], Path, int, str | None]:
            row, target = item
            job = StorageJob(id=int(row["c_id"]), description="", name=row.get("c_jobname"),
                             ce_id=row.get("a_IDFromEndpoint"))
            try:
                location = storage.retrieve_results(context, job, target)
            except ActError as exc:
                return row, target, 0, str(exc)
            return row, target, len(location.files), None

        cleanable: list[int] = []
        with ThreadPoolExecutor(max_workers=GET_WORKERS) as pool:
            for row, target, count, error in pool.map(download, targets):
                label = row.get("c_jobname")
                if error:
                    click.echo(f"Errors downloading job {label}:")
                    click.echo(f"    {error}")
                    continue
                cleanable.append(int(row["c_id"]))
                if count:
                    click.echo(f"Results for job {label} stored in {target}")
                else:
                    click.echo(f"No output files for job {label}")
        if cleanable and not noclean:
            act.clean(cleanable)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="act")
