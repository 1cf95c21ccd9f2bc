"""``act``: the command line client users run on their own machines.

It reads the act-client compatible configuration (:class:`ClientConfig`).
Exit codes: 0 success, 1 an error (one line, no traceback), 2 a usage error.
"""

from __future__ import annotations

from pathlib import Path

import click

from actframework import __version__

EPILOG = (
    "The job commands (info, proxy, sub, stat, kill, clean, fetch, resub, get, cat) "
    "are not built yet in this version of actframework."
)


@click.group(
    epilog=EPILOG,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--conf",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Configuration file [default: ~/.config/act-client/config.yaml].",
)
@click.option("--server", help="aCT server URL, overriding `server:` in the configuration.")
@click.version_option(__version__, prog_name="act")
@click.pass_context
def cli(ctx: click.Context, conf: Path | None, server: str | None) -> None:
    """Submit and manage grid jobs through an ARC Control Tower server."""
    ctx.obj = {"conf": conf, "server": server}
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="act")
