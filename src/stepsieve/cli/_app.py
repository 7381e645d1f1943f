"""The root ``stepsieve`` typer app. Each verb lives in its own module (``_<verb>.py``)
and registers itself on ``app``; the CLI is a thin layer over the library."""

from __future__ import annotations

import typer

from stepsieve._version import __version__

app = typer.Typer(
    name="stepsieve",
    help="Step-level process supervision: grade every step, then curate, pair, train and search.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stepsieve {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """stepsieve: grade every step of multi-step trajectories."""
