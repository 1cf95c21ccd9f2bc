"""``actd``: set up and run the aCT host (REST server and engine).

Exit codes: 0 success, 1 an error (one line on stderr, no traceback),
2 a usage error (click's own).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from actframework import __version__
from actframework.config import normalise_listen, write_private_file
from actframework.errors import ActError, ConfigError
from actframework.server_config import (
    ServerConfig,
    default_data_dir,
    new_jwt_secret,
    render_server_config,
    resolve_server_config_path,
)

F = TypeVar("F", bound=Callable[..., Any])

#: The top-level modules of the ``server`` extra: ``pip install actframework``
#: is the ``act`` client alone, and without them actd can only say so.
SERVER_EXTRA_MODULES = frozenset(
    {"sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "jwt", "prometheus_client"}
)


class _ActdGroup(click.Group):
    """Turns every :class:`ActError` into one line on stderr and exit code 1,
    as well as a missing server dependency (an install without the
    ``server`` extra), which gets the command that installs it."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ActError as exc:
            click.echo(f"actd: {exc}", err=True)
            ctx.exit(1)
        except ModuleNotFoundError as exc:
            if (exc.name or "").partition(".")[0] not in SERVER_EXTRA_MODULES:
                raise
            click.echo(
                f"actd: {exc.name} is not installed: actd needs the server's dependencies, "
                "pip install 'actframework[server]'",
                err=True,
            )
            ctx.exit(1)


#: Where ``--set`` flags wait in the click context for :func:`load_config`.
SET_FLAGS = "actd.set"


def _remember_set(ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> None:
    ctx.meta[SET_FLAGS] = value


def config_option(func: F) -> F:
    """The ``--config`` and ``--set`` options every subcommand that reads the
    configuration takes (the user layer's file, and the command-line layer)."""
    func = click.option(
        "--set",
        "assignments",
        multiple=True,
        metavar="KEY=VALUE",
        expose_value=False,
        callback=_remember_set,
        help="Set one setting over every file and variable, e.g. server.listen=0.0.0.0:8443 (repeatable).",
    )(func)
    return config_file_option(func, "; site packages and /etc/actframework/ are read below it")


def config_file_option(func: F, more: str = "") -> F:
    """``--config``: the file of the user layer (``actd init`` writes it)."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=f"Configuration file [default: $ACTD_CONFIG, else ~/.config/actd/config.yaml]{more}.",
    )(func)


def load_config(config_path: Path | None) -> ServerConfig:
    """The settings of every layer, with ``--config`` and ``--set`` of this command."""
    if config_path is not None and not config_path.expanduser().exists():
        raise ConfigError(f"config file {config_path} does not exist; create it with `actd init`")
    assignments = click.get_current_context().meta.get(SET_FLAGS, ())
    return ServerConfig.load(config_path, assignments=assignments)


def config_arguments(config: ServerConfig) -> list[str]:
    """``--config`` and ``--set`` for a child actd to read the same settings."""
    arguments = ["--config", str(config.path)] if config.path is not None else []
    for assignment in config.assignments:
        arguments += ["--set", assignment]
    return arguments


@click.group(cls=_ActdGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="actd")
def cli() -> None:
    """Set up and run an ARC Control Tower host: the REST API that `act`
    clients talk to, and the engine that drives jobs through ARC CEs."""


# --------------------------------------------------------------------------- init


@cli.command()
@config_file_option
@click.option("--db", "database_url", help="Database URL [default: SQLite in the data dir].")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Data directory [default: ~/.local/share/actd].",
)
@click.option("--listen", default="127.0.0.1:8080", show_default=True, help="HOST:PORT of the REST API.")
@click.option("--cluster", "clusters", multiple=True, help="An ARC CE users may submit to (repeatable).")
@click.option(
    "--ca-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Trusted grid CA directory [default: $X509_CERT_DIR, else /etc/grid-security/certificates].",
)
@click.option("--force", is_flag=True, help="Overwrite an existing configuration file.")
def init(
    config_path: Path | None,
    database_url: str | None,
    data_dir: Path | None,
    listen: str,
    clusters: tuple[str, ...],
    ca_dir: Path | None,
    force: bool,
) -> None:
    """Write a commented configuration, create the data directories and the database."""
    from actframework.db.connection import safe_url
    from actframework.db.migrate import upgrade

    path = resolve_server_config_path(config_path)
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; use --force to overwrite it")
    normalise_listen(listen)
    ca_dir = ca_dir or Path(os.environ.get("X509_CERT_DIR") or "/etc/grid-security/certificates")
    data_dir = (data_dir or default_data_dir()).expanduser().absolute()
    database_url = database_url or f"sqlite:///{data_dir / 'actd.sqlite'}"
    text = render_server_config(
        data_dir=data_dir,
        database_url=database_url,
        listen=listen,
        clusters=clusters,
        ca_dir=ca_dir.expanduser().absolute(),
        jwt_secret=new_jwt_secret(),
    )
    # Directories and schema first, the file last: a failure half-way leaves no
    # config behind, so a second `actd init` needs no --force.
    for directory, mode in (
        (data_dir, 0o700),
        (data_dir / "inputs", 0o700),
        (data_dir / "results", 0o700),
        (data_dir / "proxies", 0o700),
    ):
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, mode)
    upgrade(database_url)
    write_private_file(path, text)
    click.echo(f"actd: wrote {path}")
    click.echo(f"actd: data directory {data_dir}")
    click.echo(f"actd: database {safe_url(database_url)} is ready")
    if not clusters:
        click.echo("actd: no clusters yet: add ARC CE URLs under `clusters:` in the config")


# --------------------------------------------------------------------------- config


@cli.command("config")
@config_option
def show_config(config_path: Path | None) -> None:
    """Show the effective settings, each with the layer and file it came from
    (defaults, site packages, /etc/actframework, --config, ACTD_* variables,
    --set). Secrets (the JWT secret, database passwords) are masked."""
    from actframework.layers import describe

    config = load_config(config_path)
    click.echo(describe(config.layered, config.layered.data, "actd"), nl=False)


# --------------------------------------------------------------------------- db


@cli.group()
def db() -> None:
    """Manage the job store's database schema."""


@db.command("upgrade")
@config_option
def db_upgrade(config_path: Path | None) -> None:
    """Bring the database schema up to this version of actframework."""
    from actframework.db.connection import make_engine
    from actframework.db.migrate import current_revision, head_revision, upgrade

    config = load_config(config_path)
    engine = make_engine(config.database_url)
    try:
        before = current_revision(engine)
        upgrade(engine)
    finally:
        engine.dispose()
    after = head_revision()
    if before == after:
        click.echo(f"actd: database schema already at {after}")
    else:
        click.echo(f"actd: database schema upgraded from {before or 'empty'} to {after}")


# --------------------------------------------------------------------------- plugins


@cli.command()
def plugins() -> None:
    """List the installed storage backends."""
    from actframework.plugins import find_conflicts, installed_backends

    backends = installed_backends()
    if not backends:
        click.echo("no storage backends installed")
        return
    width = max(len("NAME"), *(len(b.name) for b in backends))
    dist_width = max(len("DISTRIBUTION"), *(len(b.distribution) for b in backends))
    click.echo(f"{'NAME':<{width}}  {'DISTRIBUTION':<{dist_width}}  VERSION")
    for b in backends:
        click.echo(f"{b.name:<{width}}  {b.distribution:<{dist_width}}  {b.version}")
    conflicts = find_conflicts(backends)
    if conflicts:
        from actframework.errors import DuplicateBackendError

        name, owners = next(iter(sorted(conflicts.items())))
        raise DuplicateBackendError(name, owners)


@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def report(config_path: Path | None, as_json: bool) -> None:
    """Print the site's jobs per state, cluster and user."""
    import json
    from dataclasses import asdict

    from actframework.report import render

    store = open_store_for(load_config(config_path))
    try:
        counts = store.job_counts()
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps([asdict(count) for count in counts], indent=1))
    else:
        click.echo(render(counts), nl=False)


@cli.command()
@config_option
@click.option(
    "--engine-age",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="Seconds since an engine's last heartbeat after which it counts as gone.",
)
@click.option(
    "--proxy-warning",
    type=click.FloatRange(min=0),
    default=24.0,
    show_default=True,
    help="Hours before expiry from which a proxy of a user with jobs is warned about.",
)
def check(config_path: Path | None, engine_age: float, proxy_warning: float) -> None:
    """Check this host: configuration, database schema, CA directory, engine
    heartbeat, proxies nearing expiry, and each CE. Exit code as Nagios
    plugins: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."""
    from datetime import timedelta

    from actframework.check import Limits, Status, run_checks, summary

    try:
        config = load_config(config_path)
    except ActError as exc:
        click.echo(f"ACTD CRITICAL - configuration: {exc}")
        sys.exit(Status.CRITICAL)
    limits = Limits(engine_age=timedelta(seconds=engine_age), proxy_warning=timedelta(hours=proxy_warning))
    try:
        status, text = summary(run_checks(config, limits, open_store_for))
    except Exception as exc:  # a check that cannot run: the plugin answer is UNKNOWN
        click.echo(f"ACTD UNKNOWN - {type(exc).__name__}: {exc}")
        sys.exit(Status.UNKNOWN)
    click.echo(text, nl=False)
    sys.exit(status)


# --------------------------------------------------------------------------- run


def _ready_config(config_path: Path | None) -> ServerConfig:
    """The configuration, once its database schema is known to be current."""
    from actframework.db.connection import make_engine
    from actframework.db.migrate import check_schema

    config = load_config(config_path)
    engine = make_engine(config.database_url)
    try:
        check_schema(engine)
    finally:
        engine.dispose()
    return config


@cli.command()
@config_option
def serve(config_path: Path | None) -> None:
    """Run the aCT REST API that `act` clients talk to."""
    from actframework.server.serve import serve as run_server

    run_server(_ready_config(config_path))


@cli.command()
@config_option
def engine(config_path: Path | None) -> None:
    """Run the engine: hand over, submit, track, fetch and clean jobs on ARC CEs.

    Several engines (on one host or many) may share one PostgreSQL or
    MariaDB database; they split the work between them. SIGTERM or Ctrl-C
    stops the engine after the steps in progress, within ce_timeout + 5 s,
    releasing the jobs it had claimed."""
    from actframework import logs
    from actframework.engine.runner import Engine
    from actframework.plugins import load_backend

    config = _ready_config(config_path)
    logs.configure(config.log_level)
    storage = load_backend(config.storage_backend, config.storage_options)
    with open_store_for(config) as store:
        runner = Engine.create(config, store, storage)
        _stop_on_signals(runner.stopping.set)
        runner.run_until_stopped()


@cli.command()
@config_option
def run(config_path: Path | None) -> None:
    """Run the REST API and the engine together, for a single machine.

    Both run as child processes of this one. If either exits on its own, for
    whatever reason and with whatever status, the other is stopped and
    `actd run` exits non-zero, so that a service manager (systemd
    `Restart=on-failure`) restarts the pair. SIGTERM or Ctrl-C stops both
    and exits 0."""
    import subprocess
    import time

    config = _ready_config(config_path)
    command = [sys.executable, "-m", "actframework.actd"]
    children = {name: subprocess.Popen([*command, name, *config_arguments(config)]) for name in ("serve", "engine")}
    stopping = False

    def stop() -> None:
        nonlocal stopping
        stopping = True

    _stop_on_signals(stop)
    status = 0
    while not stopping:
        exited = {name: child.poll() for name, child in children.items()}
        finished = {name: code for name, code in exited.items() if code is not None}
        if finished:
            name, code = next(iter(finished.items()))
            status = child_failure_status(code)
            how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
            click.echo(f"actd: {name} {how}; stopping the other and exiting with status {status}", err=True)
            break
        time.sleep(0.2)
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + child_stop_seconds(config)
    for child in children.values():
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    sys.exit(status)


#: Seconds beyond the engine's own stop bound that `actd run` gives its
#: children after SIGTERM before SIGKILL (releasing leases, the server's
#: shutdown).
CHILD_STOP_MARGIN_S = 25.0


def child_stop_seconds(config: ServerConfig) -> float:
    """How long `actd run` waits for its children to stop: the engine's
    stop bound (``ce_timeout`` + 5 s) plus :data:`CHILD_STOP_MARGIN_S`."""
    from actframework.engine.runner import stop_bound

    return stop_bound(config.engine.ce_timeout) + CHILD_STOP_MARGIN_S


def child_failure_status(code: int) -> int:
    """`actd run`'s exit status when a child ended by itself with ``code``
    (a ``Popen.returncode``): the child's status if it failed, 128 + the
    signal if one killed it (the shell's convention), and 1 if it exited 0.
    Never 0: a child that is gone means the host no longer does its job, and
    only a non-zero status makes a service manager restart it."""
    if code < 0:
        return 128 - code
    return code or 1


def open_store_for(config: ServerConfig) -> Any:
    from actframework.db import open_store

    return open_store(config.database_url, outage_wait=config.database_outage_wait)


def _stop_on_signals(stop: Callable[[], None]) -> None:
    """SIGTERM and SIGINT call ``stop`` (once each may arrive; work in
    progress finishes)."""
    import signal

    def handler(_signum: int, _frame: object) -> None:
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _register_arc() -> None:
    from actframework.arc.cli import arc

    cli.add_command(arc)


_register_arc()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="actd")


if __name__ == "__main__":
    main()
