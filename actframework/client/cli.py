"""``act``: the command line client users run on their own machines.

A thin shell over the library (:mod:`actframework.client`): it reads the
act-client compatible configuration (:class:`ClientConfig`), speaks to the
server through :class:`~actframework.client.api.ACTClient`, moves input and
output files through the configured storage backend (``--storage``, config
``storage``, default ``actstore``; ``--webdav [URL]`` is act-client's way of
choosing ``webdav``) and prints what act-client 1.0.0 prints, without its
bugs: commands that change jobs need ``--id``,
``--name``, ``--state`` or ``-a``; ``stat --get-cols`` works; the configured
proxy is the one delegated; TLS is verified everywhere.

Exit codes: 0 success, 1 an error (one line on stderr, no traceback; also
after Ctrl-C), 2 a usage error.

``act`` is started for every command, often from scripts that poll, so its
start costs what the command needs and no more: what only some commands use
(the HTTP stack, X.509, the xRSL parser, storage plugins, progress bars) is
imported inside those commands, and nothing here loads the server, the
engine or the job store (``tests/test_client_imports.py`` checks that).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import click

from actframework import __version__
from actframework.errors import ActError, ConfigError, ServerError, StoreError
from actframework.idlist import parse_id_list
from actframework.jobstates import ARCSTATES, RESULT_STATES, ArcState

if TYPE_CHECKING:
    from actframework.client.api import ACTClient
    from actframework.client.config import ClientConfig
    from actframework.client.results import Downloaded
    from actframework.client.submit import Submitted
    from actframework.hookspecs import StorageContext, TransferProgress
    from actframework.plugins import StorageManager

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_ARC_COLUMNS = "JobID,State,arcstate"
DEFAULT_CLIENT_COLUMNS = "id,jobname"
#: Backends that take act-client's ``webdav:`` URL as their ``url`` option.
WEBDAV_BACKENDS = ("webdav", "dcache")
#: ``--webdav`` given without a URL: use the configured one (act-client's sentinel).
WEBDAV_FROM_CONFIG = "webdav"


class _ActGroup(click.Group):
    """Turns every :class:`ActError` into one line on stderr and exit code 1,
    and Ctrl-C into ``Interrupted`` and exit code 1 (act-client's)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ActError as exc:
            click.echo(str(exc), err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("Interrupted", err=True)
            ctx.exit(1)


class Session:
    """What every command needs: the configuration and, on demand, a client
    and the storage backend."""

    def __init__(self, conf: Path | None, server: str | None, port: int | None, storage: str | None) -> None:
        self._conf = conf
        self._server = server
        self._port = port
        self._storage = storage
        self.webdav_url: str | None = None

    @functools.cached_property
    def config(self) -> ClientConfig:
        """Read when a command first needs it (``--help`` never does)."""
        from actframework.client.config import ClientConfig

        return ClientConfig.load(
            self._conf,
            flags={
                "--server": {"server": self._server} if self._server else None,
                "--storage": {"storage": self._storage} if self._storage else None,
            },
        )

    @functools.cached_property
    def server(self) -> str:
        return _with_port(self.config.require("server"), self._port)

    @functools.cached_property
    def storage_name(self) -> str:
        return self.config.storage

    def client(self, need_token: bool = True) -> ACTClient:
        from actframework.client.api import ACTClient

        return ACTClient.from_config(self.config, server=self.server, need_token=need_token)

    def use_webdav(self, value: str) -> None:
        """act-client's ``--webdav [URL]``: absent (``''``) changes nothing;
        bare means the configured ``webdav:`` URL; a value is the URL."""
        if not value:
            return
        url = self.config.webdav if value == WEBDAV_FROM_CONFIG else value
        if not url:
            raise ConfigError("WebDAV location not configured")
        if self.storage_name not in WEBDAV_BACKENDS:  # --storage dcache --webdav URL stays dcache
            self.storage_name = "webdav"
        self.webdav_url = url

    def storage_options(self) -> dict[str, Any]:
        options = dict(self.config.storage_options)
        url = self.webdav_url or self.config.webdav
        if self.storage_name in WEBDAV_BACKENDS and url and "url" not in options:
            options["url"] = url
        return options

    def storage(self) -> StorageManager:
        from actframework.plugins import load_backend

        return load_backend(self.storage_name, self.storage_options())

    def storage_record(self) -> dict[str, str] | None:
        """What the server records about where inputs go: the backend and
        its URL, for a backend that stores away from the server."""
        url = self.storage_options().get("url")
        return {"backend": self.storage_name, "url": str(url)} if url else None

    def storage_context(self, client: ACTClient, progress: TransferProgress | None = None) -> StorageContext:
        """The backend acts as the user: their proxy (or, without one, their
        bearer token), and the server's data
        area through ``client``. The trusted CAs are the configured
        ``ca_certificates``, else left to the HTTP layer's rule
        (``$X509_CERT_DIR``, else the grid directory, else the system
        bundle), as for the server itself."""
        from actframework.client.server_files import client_storage_context

        context = client_storage_context(
            client, proxy=self.config.proxy, token=self.storage_token(), ca_dir=self.config.ca_certificates
        )
        return context if progress is None else dataclasses.replace(context, progress=progress)

    def storage_token(self) -> str | None:
        """A user without a proxy file reaches token-accepting storage with
        their bearer token (WLCG discovery, as ``act token`` finds it);
        with a proxy, or without any token, the backend gets none."""
        from actframework.client.bearer import discover_token

        if self.config.proxy is not None and Path(self.config.proxy).exists():
            return None
        try:
            return discover_token().token
        except ConfigError:
            return None


def _with_port(url: str, port: int | None) -> str:
    """act-client's ``--port``: the server URL with that port."""
    if port is None:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


pass_session = click.make_pass_decorator(Session)


@click.group(cls=_ActGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--conf",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Configuration file [default: ~/.config/act-client/config.yaml].",
)
@click.option("--server", help="aCT server URL, overriding `server:` in the configuration.")
@click.option("--port", type=click.IntRange(1, 65535), help="Port of the aCT server, overriding the URL's.")
@click.option(
    "--storage", help="Storage backend for input and output files [default: config `storage`, else actstore]."
)
@click.option("-v", "--verbose", is_flag=True, help="Log each request (never tokens or keys) to stderr.")
@click.version_option(__version__, prog_name="act")
@click.pass_context
def cli(
    ctx: click.Context, conf: Path | None, server: str | None, port: int | None, storage: str | None, verbose: bool
) -> None:
    """Submit and manage grid jobs through an ARC Control Tower server."""
    if verbose:
        _log_to_stderr()
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
        return
    ctx.obj = Session(conf, server, port, storage)


def _log_to_stderr() -> None:
    """``-v``: actframework's debug log (each request's method, URL, status
    and time; never headers, tokens or keys) on the current stderr."""
    logger = logging.getLogger("actframework")
    for handler in list(logger.handlers):
        if getattr(handler, "act_verbose", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.act_verbose = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


# --------------------------------------------------------------------------- selection


def job_filters(states: bool = True) -> Callable[[F], F]:
    """``-a``, ``-i``, ``-n`` (and ``-s``): which of the user's jobs a command touches."""

    def decorate(func: F) -> F:
        func = click.option("-a", "--all", "all_jobs", is_flag=True, help="All your jobs (with the other filters).")(
            func
        )
        func = click.option("-i", "--id", "ids", help="Job ids: 1,3,5-9.")(func)
        func = click.option("-n", "--name", help="Jobs whose name contains this.")(func)
        if states:
            func = click.option("-s", "--state", callback=known_state, help="Jobs in this state.")(func)
        return func

    return decorate


def webdav_option(func: F) -> F:
    """act-client's ``--webdav [URL]``."""
    return click.option(
        "--webdav",
        "webdav",
        is_flag=False,
        flag_value=WEBDAV_FROM_CONFIG,
        default="",
        metavar="[URL]",
        help="Use the WebDAV backend: the configured `webdav:` URL, or this one. Without a "
        "URL, put it after the files (it takes the next word as its URL).",
    )(func)


def progress_option(func: F) -> F:
    return click.option(
        "--progress/--no-progress", default=None, help="Show a progress bar [default: when stderr is a terminal]."
    )(func)


def selected_ids(ids: str | None) -> str | None:
    """The ``--id`` list, checked here so that a typo is a usage error."""
    if ids is None:
        return None
    try:
        parse_id_list(ids)
    except StoreError as exc:
        raise click.BadParameter(str(exc), param_hint="--id") from None
    return ids


def require_selection(
    all_jobs: bool, ids: str | None, name: str | None, state: str | None = None, *, has_state: bool = True
) -> None:
    """Commands that change jobs never act on everything by accident."""
    if not (all_jobs or ids or name or state):
        options = "--id, --name, --state" if has_state else "--id, --name"
        raise click.UsageError(f"say which jobs: {options}, or -a/--all for all of them")


def known_state(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """``-s``: a typo would silently select nothing, so it is a usage error."""
    if value and value not in ARCSTATES:
        raise click.BadParameter(f"unknown state {value!r}; the states are {', '.join(sorted(ARCSTATES))}")
    return value


def clean_storage(session: Session, act: ACTClient, storage: StorageManager, job_ids: Sequence[int]) -> None:
    """Let the backend remove what it staged for jobs the server no longer
    has. Failures are reported and do not stop the others (act-client's)."""
    if not job_ids:
        return
    from actframework.hookspecs import StorageJob

    context = session.storage_context(act)
    for job_id in job_ids:
        try:
            storage.clean_up(context, StorageJob(id=int(job_id), description=""))
        except ActError as exc:
            click.echo(f"Error cleaning up files of job {job_id}: {exc}", err=True)


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


# --------------------------------------------------------------------------- info, proxy, token


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the server's answer as JSON.")
@pass_session
def info(session: Session, as_json: bool) -> None:
    """Show the server and the clusters it submits to."""
    with session.client() as act:
        answer = act.info()
    if as_json:
        _echo_json({"server": act.url, **answer})
        return
    click.echo(f"aCT server URL: {act.url}")
    click.echo("Clusters:")
    for cluster in answer.get("clusters") or []:
        click.echo(cluster)


@cli.command("config")
@pass_session
def show_config(session: Session) -> None:
    """Show the effective settings, each with the layer and file it came from
    (defaults, site packages, /etc/actframework, your file, ACT_* variables,
    flags). Secrets are masked."""
    from actframework.layers import describe

    layered = session.config.layered
    click.echo(describe(layered, layered.data, "act", not_secret=frozenset({("token",)})), nl=False)


@cli.command()
@click.option(
    "--create",
    is_flag=True,
    help="First make a proxy from your grid certificate if there is no valid one (as arcproxy).",
)
@click.option(
    "--cert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="User certificate for --create [default: $X509_USER_CERT, else ~/.globus/usercert.pem].",
)
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="User key for --create [default: $X509_USER_KEY, else ~/.globus/userkey.pem].",
)
@click.option(
    "--hours",
    type=click.IntRange(1, 24 * 31),
    default=12,
    show_default=True,
    help="Lifetime of a proxy made by --create.",
)
@pass_session
def proxy(session: Session, create: bool, cert: Path | None, key: Path | None, hours: int) -> None:
    """Delegate your proxy to the server and store the access token."""
    from actframework.client.credentials import create_proxy, usable_proxy
    from actframework.client.interrupts import ignored_interrupt
    from actframework.config import write_private_file

    path = session.config.proxy
    if create and not _valid_proxy_exists(path):
        made = create_proxy(path, cert=cert, key=key, lifetime=timedelta(hours=hours), ask_passphrase=_ask_passphrase)
        click.echo(f"Created proxy {path} for {made.dn}, valid until {made.not_after:%Y-%m-%d %H:%M:%S} UTC")
    usable_proxy(path)
    with ignored_interrupt(), session.client(need_token=False) as act:
        token = act.delegate(path)
        write_private_file(session.config.token, token)
    click.echo(f"Successfully inserted proxy. Access token stored in {session.config.token}")


@cli.command()
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Hand over the token in this file [default: WLCG discovery: $BEARER_TOKEN, $BEARER_TOKEN_FILE, "
    "$XDG_RUNTIME_DIR/bt_u<uid>, /tmp/bt_u<uid>].",
)
@click.option(
    "--refresh-token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also hand over this refresh token (file of mode 0600), so the server renews the access token "
    "for your jobs; needs --client-id and --client-secret-file.",
)
@click.option("--client-id", help="The OAuth2 client the refresh token was issued to.")
@click.option(
    "--client-secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The secret of --client-id (file of mode 0600).",
)
@pass_session
def token(
    session: Session,
    token_file: Path | None,
    refresh_token_file: Path | None,
    client_id: str | None,
    client_secret_file: Path | None,
) -> None:
    """Hand your bearer token (a WLCG JWT) to the server and store the access
    token, as act proxy does for a proxy."""
    from actframework.client.bearer import discover_token, read_secret
    from actframework.client.interrupts import ignored_interrupt
    from actframework.config import write_private_file

    grant = _refresh_grant(refresh_token_file, client_id, client_secret_file)
    if token_file is not None:
        bearer, source = read_secret(token_file, "token file"), str(token_file)
    else:
        found = discover_token()
        bearer, source = found.token, found.source
    with ignored_interrupt(), session.client(need_token=False) as act:
        stored = act.hand_over_token(bearer, grant)
        write_private_file(session.config.token, stored)
    extra = " with its refresh grant" if grant else ""
    click.echo(
        f"Successfully handed over the token from {source}{extra}. Access token stored in {session.config.token}"
    )


def _refresh_grant(
    refresh_token_file: Path | None, client_id: str | None, client_secret_file: Path | None
) -> dict[str, str] | None:
    """What ``act token`` sends for a refresh grant (None without one); all
    three options or none."""
    from actframework.client.bearer import read_secret

    given = {
        "--refresh-token-file": refresh_token_file,
        "--client-id": client_id,
        "--client-secret-file": client_secret_file,
    }
    if not any(given.values()):
        return None
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise ConfigError(
            f"a refresh grant needs --refresh-token-file, --client-id and --client-secret-file; "
            f"missing: {', '.join(missing)}"
        )
    assert refresh_token_file is not None and client_id is not None and client_secret_file is not None
    return {
        "refresh_token": read_secret(refresh_token_file, "refresh token file", private=True),
        "client_id": client_id,
        "client_secret": read_secret(client_secret_file, "client secret file", private=True),
    }


def _valid_proxy_exists(path: Path) -> bool:
    from actframework.client.credentials import usable_proxy

    try:
        usable_proxy(path)
    except ActError:
        return False
    return True


def _ask_passphrase(key: Path) -> str:
    """From the terminal, or the first line of stdin when it is not one
    (``act proxy --create < passphrase-file``)."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise ConfigError(f"{key} is encrypted and no passphrase was given")
        return line
    try:
        return str(click.prompt(f"Passphrase of {key}", hide_input=True, err=True))
    except click.Abort:
        raise ConfigError(f"{key} is encrypted and no passphrase was given") from None


# --------------------------------------------------------------------------- stat


@cli.command()
@job_filters()
@click.option("--arc", default=DEFAULT_ARC_COLUMNS, show_default=True, help="Engine columns to show.")
@click.option(
    "--client", "client_cols", default=DEFAULT_CLIENT_COLUMNS, show_default=True, help="Client columns to show."
)
@click.option("--get-cols", is_flag=True, help="List the columns you can show.")
@click.option("--json", "as_json", is_flag=True, help="Print the jobs as JSON (the server's c_/a_ keys).")
@click.option(
    "--watch",
    type=click.FloatRange(min=0.5),
    is_flag=False,
    flag_value=5.0,
    default=None,
    metavar="[SECONDS]",
    help="Show the table again every SECONDS (5) until every job is done, donefailed, failed, "
    "cancelled or lost, or Ctrl-C (with --json: one JSON object per line).",
)
@pass_session
def stat(
    session: Session,
    all_jobs: bool,
    ids: str | None,
    name: str | None,
    state: str | None,
    arc: str,
    client_cols: str,
    get_cols: bool,
    as_json: bool,
    watch: float | None,
) -> None:
    """Show your jobs."""
    from actframework.client.table import write_json, write_table

    client_list = [c for c in client_cols.split(",") if c]
    arc_list = [c for c in arc.split(",") if c]
    columns = [f"c_{c}" for c in client_list] + [f"a_{c}" for c in arc_list]
    wanted = selected_ids(ids)
    with session.client() as act:
        if get_cols:
            answer = act.info()
            if as_json:
                _echo_json({"arc": answer.get("arc") or [], "client": answer.get("client") or []})
                return
            click.echo("arc columns:")
            click.echo(",".join(answer.get("arc") or []))
            click.echo()
            click.echo("client columns:")
            click.echo(",".join(answer.get("client") or []))
            return

        def fetch_rows(extra: Sequence[str] = ()) -> list[dict[str, Any]]:
            return act.jobs(
                wanted,
                name=name,
                state=state,
                client=client_list,
                arc=arc_list + [c for c in extra if c not in arc_list],
            )

        if watch is not None:
            _watch(fetch_rows, columns, watch, as_json)
            return
        # Printed as the server's answer arrives: a listing of any length is never held whole.
        rows = act.iter_jobs(wanted, name=name, state=state, client=client_list, arc=arc_list)
        try:
            if as_json:
                write_json(rows, _write_out)
            else:
                write_table(rows, columns, _write_out)
        except ServerError as exc:
            if exc.msg.startswith("Invalid column"):
                raise ServerError(exc.status, f"{exc.msg} (act stat --get-cols lists the columns)") from None
            raise


def _write_out(text: str) -> None:
    click.echo(text, nl=False)


def _watch(
    fetch_rows: Callable[[Sequence[str]], list[dict[str, Any]]], columns: Sequence[str], interval: float, as_json: bool
) -> None:
    """Redraw until every job has settled; Ctrl-C ends it quietly."""
    from actframework.client.table import all_settled, render_table

    on_terminal = sys.stdout.isatty()
    try:
        while True:
            rows = fetch_rows(["arcstate"])
            if as_json:  # JSON Lines: one object per refresh
                click.echo(
                    json.dumps(
                        {
                            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                            "jobs": [{k: v for k, v in row.items() if k in columns} for row in rows],
                        },
                        sort_keys=True,
                    )
                )
            else:
                if on_terminal:
                    click.clear()
                else:
                    click.echo()
                click.echo(f"{time.strftime('%H:%M:%S')}  {len(rows)} jobs  (every {interval:g} s; Ctrl-C to stop)")
                for line in render_table(rows, columns):
                    click.echo(line)
            if all_settled(rows):
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return


# --------------------------------------------------------------------------- sub


@cli.command()
@click.option(
    "--clusterlist",
    default="default",
    show_default=True,
    help="A cluster group of the configuration, or cluster URLs separated by commas.",
)
@webdav_option
@progress_option
@click.argument("descriptions", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@pass_session
def sub(session: Session, clusterlist: str, webdav: str, progress: bool | None, descriptions: tuple[Path, ...]) -> None:
    """Submit jobs described in xRSL or ADL files."""
    from actframework.client.progress import progress_for
    from actframework.client.submit import SUBMIT_BATCH, read_descriptions, submit_batch

    session.use_webdav(webdav)
    clusters = session.config.resolve_clusterlist(clusterlist)
    storage = session.storage()
    failed = 0
    with session.client() as act, progress_for("uploading", progress) as bar:
        context = session.storage_context(act, bar)
        for start in range(0, len(descriptions), SUBMIT_BATCH):
            batch = descriptions[start : start + SUBMIT_BATCH]
            click.echo(f"Submitting batch of {len(batch)} jobs ...")
            jobs, unreadable = read_descriptions(batch)
            _report_submissions(unreadable)
            results = submit_batch(
                act,
                storage,
                context,
                clusters,
                jobs,
                report=_report_submissions,
                announce=click.echo,
                storage_record=session.storage_record(),
            )
            failed += sum(not result.ok for result in [*unreadable, *results])
    if failed:
        click.get_current_context().exit(1)  # every failure has been printed above


def _report_submissions(results: Sequence[Submitted]) -> None:
    """act-client's lines: a failure names the description file (and an
    error that names the file already is not prefixed with it twice)."""
    for result in results:
        if result.ok:
            click.echo(f"Inserted job {result.name} with ID {result.id}")
            continue
        error = str(result.error)
        if error.startswith(f"{result.path}: "):
            error = error[len(result.path) + 2 :]
        click.echo(f"Job description {result.path} not submitted: {error}")


# --------------------------------------------------------------------------- kill, clean, fetch, resub


@cli.command()
@job_filters()
@webdav_option
@pass_session
def kill(session: Session, all_jobs: bool, ids: str | None, name: str | None, state: str | None, webdav: str) -> None:
    """Kill jobs."""
    from actframework.client.interrupts import ignored_interrupt

    require_selection(all_jobs, ids, name, state)
    session.use_webdav(webdav)
    storage = session.storage()
    with session.client() as act, ignored_interrupt():
        killed = act.kill(selected_ids(ids), name=name, state=state)
        click.echo(f"Will kill {len(killed)} jobs")
        # Jobs the engine never had are gone at once; the others' files go at clean.
        gone = [
            int(row["c_id"])
            for row in killed
            if row.get("a_id") is None or row.get("a_arcstate") in (ArcState.TOSUBMIT, ArcState.SUBMITTING)
        ]
        clean_storage(session, act, storage, gone)


@cli.command()
@job_filters()
@webdav_option
@pass_session
def clean(session: Session, all_jobs: bool, ids: str | None, name: str | None, state: str | None, webdav: str) -> None:
    """Remove finished, failed or cancelled jobs and their files."""
    from actframework.client.interrupts import ignored_interrupt

    require_selection(all_jobs, ids, name, state)
    session.use_webdav(webdav)
    storage = session.storage()
    with session.client() as act, ignored_interrupt():
        cleaned = act.clean(selected_ids(ids), name=name, state=state)
        click.echo(f"Cleaned {len(cleaned)} jobs")
        clean_storage(session, act, storage, cleaned)


@cli.command()
@job_filters(states=False)
@pass_session
def fetch(session: Session, all_jobs: bool, ids: str | None, name: str | None) -> None:
    """Fetch the outputs of failed jobs (they become donefailed)."""
    require_selection(all_jobs, ids, name, has_state=False)
    with session.client() as act:
        fetched = act.fetch(selected_ids(ids), name=name)
    click.echo(f"Will fetch {len(fetched)} jobs")


@cli.command()
@job_filters(states=False)
@pass_session
def resub(session: Session, all_jobs: bool, ids: str | None, name: str | None) -> None:
    """Resubmit failed jobs from scratch."""
    require_selection(all_jobs, ids, name, has_state=False)
    with session.client() as act:
        resubmitted = act.resubmit(selected_ids(ids), name=name)
    click.echo(f"Will resubmit {len(resubmitted)} jobs")


# --------------------------------------------------------------------------- get, cat


@cli.command()
@job_filters()
@webdav_option
@click.option("--use-jobname", is_flag=True, help="Name the download directories after the jobs.")
@click.option("--noclean", is_flag=True, help="Keep the jobs on the server after downloading.")
@progress_option
@pass_session
def get(
    session: Session,
    all_jobs: bool,
    ids: str | None,
    name: str | None,
    state: str | None,
    webdav: str,
    use_jobname: bool,
    noclean: bool,
    progress: bool | None,
) -> None:
    """Download the outputs of done and donefailed jobs, then clean them."""
    from actframework.client.interrupts import ignored_interrupt
    from actframework.client.progress import progress_for
    from actframework.client.results import download_results, finished_jobs

    require_selection(all_jobs, ids, name, state)
    if state and state not in RESULT_STATES:
        raise click.BadParameter('State parameter not "done" or "donefailed"', param_hint="--state")
    session.use_webdav(webdav)
    storage = session.storage()
    with session.client() as act:
        rows, missing = finished_jobs(act, selected_ids(ids), name, state)
        for job_id in missing:
            click.echo(f"Job with ID {job_id:>8} does not exist or is not in proper state")

        def report(result: Downloaded) -> None:
            if result.error:
                click.echo(f"Errors downloading job {result.name}:")
                click.echo(f"    {result.error}")
            elif result.files:
                click.echo(f"Results for job {result.name} stored in {result.directory}")
            else:
                click.echo(f"No output files for job {result.name}")

        try:
            with progress_for("downloading", progress) as bar:
                results = download_results(
                    act, storage, session.storage_context(act, bar), rows, use_jobname=use_jobname, on_done=report
                )
        except KeyboardInterrupt:
            click.echo("Stopping job download ...", err=True)
            raise
        cleanable = [result.id for result in results if result.error is None]
        if cleanable and not noclean:
            with ignored_interrupt():
                cleaned = act.clean(cleanable)
                clean_storage(session, act, storage, cleaned)


@cli.command()
@job_filters()
@click.option("-o", "--stdout", "stream", flag_value="StdOut", default=True, help="Show stdout (the default).")
@click.option("-e", "--stderr", "stream", flag_value="StdErr", help="Show stderr.")
@pass_session
def cat(session: Session, all_jobs: bool, ids: str | None, name: str | None, state: str | None, stream: str) -> None:
    """Show the stdout or stderr of jobs, straight from their CE."""
    from actframework.client.credentials import usable_proxy
    from actframework.client.results import CEConnections, output_rows, stream_output

    label = "stdout" if stream == "StdOut" else "stderr"
    proxy_path = session.config.require("proxy")
    usable_proxy(proxy_path)
    with session.client() as act:
        rows = output_rows(act, selected_ids(ids), name, state, stream)
    out = sys.stdout.buffer
    with CEConnections(proxy_path) as ces:
        for row in rows:
            chunks = stream_output(ces, row, stream)
            if chunks is None:
                click.echo(f"{label} not yet available for job {row['c_id']} {row.get('c_jobname')}", err=True)
                continue
            for chunk in chunks:
                out.write(chunk)
            out.flush()


# --------------------------------------------------------------------------- completion


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL.

    \b
    bash:  eval "$(act completion bash)"        (add it to ~/.bashrc)
    zsh:   eval "$(act completion zsh)"         (add it to ~/.zshrc)
    fish:  act completion fish > ~/.config/fish/completions/act.fish
    """
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    if completer is None:  # pragma: no cover - click ships all three
        raise click.BadParameter(f"no completion for {shell}")
    click.echo(completer(cli, {}, "act", "_ACT_COMPLETE").source())


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="act")
