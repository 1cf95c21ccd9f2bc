"""``actd arc``: look at and act on an ARC CE directly, as the engine would.

For site admins: is the CE reachable, which REST version does it speak, what
jobs and delegations does it hold for this proxy, and the bulk actions on
them. Every command prints a readable table, or JSON with ``--json``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from actframework.arc.jobs import ARCJob
from actframework.arc.rest import ARCRest
from actframework.arc.results import JobResult
from actframework.config import default_proxy_path


class _Target:
    """The CE and credentials every subcommand uses."""

    def __init__(self, url: str, proxy: Path, ca_dir: Path | None, as_json: bool) -> None:
        self.url = url
        self.proxy = proxy
        self.ca_dir = ca_dir
        self.as_json = as_json

    def connect(self) -> ARCRest:
        return ARCRest.connect(self.url, proxy=self.proxy, ca_dir=self.ca_dir)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _emit(target: _Target, data: Any, table: Callable[[], None]) -> None:
    if target.as_json:
        click.echo(json.dumps(data, indent=2, default=_json_default))
    else:
        table()


def _print_rows(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(header)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _results(target: _Target, results: list[JobResult[Any]], render: Callable[[Any], str]) -> None:
    data = [
        {"id": r.job_id, "ok": r.ok, "value": r.value if r.ok else None, "error": str(r.error) if r.error else None}
        for r in results
    ]
    _emit(
        target,
        data,
        lambda: _print_rows(
            ["ID", "RESULT"], [(r.job_id, render(r.value) if r.ok else f"error: {r.error}") for r in results]
        ),
    )
    if not all(r.ok for r in results):
        raise SystemExit(1)


@click.group("arc")
@click.option(
    "--proxy",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="X.509 proxy [default: $X509_USER_PROXY, else /tmp/x509up_u<uid>].",
)
@click.option(
    "--ca-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Trusted CA directory [default: $X509_CERT_DIR, else /etc/grid-security/certificates].",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.pass_context
def arc(ctx: click.Context, proxy: Path | None, ca_dir: Path | None, as_json: bool) -> None:
    """Talk to an ARC CE directly over its REST interface."""
    ctx.obj = {
        "proxy": proxy or default_proxy_path(),
        "ca_dir": ca_dir or (Path(os.environ["X509_CERT_DIR"]) if os.environ.get("X509_CERT_DIR") else None),
        "json": as_json,
    }


def _target(ctx: click.Context, url: str) -> _Target:
    return _Target(url, ctx.obj["proxy"], ctx.obj["ca_dir"], ctx.obj["json"])


URL = click.argument("url")
IDS = click.argument("ids", nargs=-1, required=True)


@arc.command()
@URL
@click.pass_context
def version(ctx: click.Context, url: str) -> None:
    """The REST versions the CE offers and the one we would speak."""
    target = _target(ctx, url)
    with target.connect() as rest:
        offered = ARCRest.api_versions(rest.http)
        _emit(
            target,
            {"offered": offered, "chosen": rest.version},
            lambda: click.echo(f"offered: {', '.join(offered)}\nchosen:  {rest.version}"),
        )


@arc.command()
@URL
@click.pass_context
def info(ctx: click.Context, url: str) -> None:
    """The CE's queues and their limits (the whole GLUE2 document with --json)."""
    target = _target(ctx, url)
    with target.connect() as rest:
        document = rest.get_ce_info()

    def table() -> None:
        service = document.get("Domains", {}).get("AdminDomain", {}).get("Services", {}).get("ComputingService", {})
        from actframework.arc.jobs import as_list

        click.echo(f"service: {service.get('Name') or service.get('ID', '?')}")
        shares = [s for s in as_list(service.get("ComputingShare")) if "MappingPolicy" not in s]
        _print_rows(
            ["QUEUE", "RUNNING", "WAITING", "MAXWALLTIME"],
            [(s.get("Name"), s.get("RunningJobs"), s.get("WaitingJobs"), s.get("MaxWallTime")) for s in shares],
        )

    _emit(target, document, table)


@arc.group()
def jobs() -> None:
    """Jobs on the CE."""


@jobs.command("list")
@URL
@click.option("--state", "states", multiple=True, help="Only jobs in this REST state (repeatable).")
@click.pass_context
def jobs_list(ctx: click.Context, url: str, states: tuple[str, ...]) -> None:
    """Every job of this proxy's owner on the CE."""
    target = _target(ctx, url)
    with target.connect() as rest:
        listing = rest.get_jobs_list(states or None)
    _emit(
        target,
        [dataclasses.asdict(j) for j in listing],
        lambda: _print_rows(["ID", "STATE"], [(j.id, j.state) for j in listing]),
    )


@jobs.command("status")
@URL
@IDS
@click.pass_context
def jobs_status(ctx: click.Context, url: str, ids: tuple[str, ...]) -> None:
    """The REST state of each job."""
    target = _target(ctx, url)
    with target.connect() as rest:
        _results(target, rest.get_jobs_status(ids), str)


@jobs.command("info")
@URL
@IDS
@click.pass_context
def jobs_info(ctx: click.Context, url: str, ids: tuple[str, ...]) -> None:
    """What the CE knows about each job."""
    target = _target(ctx, url)
    with target.connect() as rest:
        results = rest.get_jobs_info(ids)

    def record(job: ARCJob | None) -> dict[str, Any] | None:
        if job is None:
            return None
        data = dataclasses.asdict(job)
        data.pop("raw")
        return data

    data = [{"id": r.job_id, "info": record(r.value), "error": str(r.error) if r.error else None} for r in results]

    def table() -> None:
        for r in results:
            if not r.ok:
                click.echo(f"{r.job_id}: error: {r.error}")
                continue
            job = r.unwrap()
            click.echo(f"{job.id}")
            for key, value in (
                ("name", job.name),
                ("state", f"{job.state} ({job.display_state})"),
                ("restart state", job.restart_state),
                ("exit code", job.exit_code),
                ("errors", "; ".join(job.errors)),
                ("queue", job.queue),
                ("submitted", job.submission_time),
                ("ended", job.end_time),
            ):
                if value not in (None, ""):
                    click.echo(f"  {key + ':':15} {value}")

    _emit(target, data, table)
    if not all(r.ok for r in results):
        raise SystemExit(1)


def _bulk_command(name: str, doc: str, call: Callable[[ARCRest, Sequence[str]], list[JobResult[Any]]]) -> None:
    @jobs.command(name, help=doc)
    @URL
    @IDS
    @click.pass_context
    def command(ctx: click.Context, url: str, ids: tuple[str, ...]) -> None:
        target = _target(ctx, url)
        with target.connect() as rest:
            _results(target, call(rest, ids), lambda _: "accepted")


_bulk_command("kill", "Kill jobs.", ARCRest.kill_jobs)
_bulk_command("clean", "Remove jobs from the CE (kill a job that waits for inputs first).", ARCRest.clean_jobs)
_bulk_command("restart", "Restart failed jobs from where they failed.", ARCRest.restart_jobs)


@arc.group()
def delegations() -> None:
    """Delegated proxies the CE holds."""


@delegations.command("list")
@URL
@click.pass_context
def delegations_list(ctx: click.Context, url: str) -> None:
    """The delegations on the CE."""
    target = _target(ctx, url)
    with target.connect() as rest:
        found = rest.list_delegations()
    _emit(
        target,
        [dataclasses.asdict(d) for d in found],
        lambda: _print_rows(["ID", "TYPE"], [(d.id, d.type or "x509") for d in found]),
    )


@delegations.command("new")
@URL
@click.pass_context
def delegations_new(ctx: click.Context, url: str) -> None:
    """Delegate the proxy to the CE; prints the new delegation id."""
    target = _target(ctx, url)
    with target.connect() as rest:
        delegation_id = rest.create_delegation(target.proxy)
    _emit(target, {"id": delegation_id}, lambda: click.echo(delegation_id))


@delegations.command("renew")
@URL
@click.argument("delegation_id")
@click.pass_context
def delegations_renew(ctx: click.Context, url: str, delegation_id: str) -> None:
    """Refresh a delegation with the current proxy."""
    target = _target(ctx, url)
    with target.connect() as rest:
        rest.renew_delegation(delegation_id, target.proxy)
    _emit(target, {"id": delegation_id, "renewed": True}, lambda: click.echo(f"renewed {delegation_id}"))


@delegations.command("delete")
@URL
@click.argument("delegation_id")
@click.pass_context
def delegations_delete(ctx: click.Context, url: str, delegation_id: str) -> None:
    """Delete a delegation from the CE."""
    target = _target(ctx, url)
    with target.connect() as rest:
        rest.delete_delegation(delegation_id)
    _emit(target, {"id": delegation_id, "deleted": True}, lambda: click.echo(f"deleted {delegation_id}"))
