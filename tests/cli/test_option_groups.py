"""Option groups: a block of options declared once, expanded in place into each command."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from stepsieve.cli import app as stepsieve_app
from stepsieve.cli._option_groups import Built, OptionGroup, with_option_groups


@dataclass(frozen=True)
class Shape:
    width: int
    depth: int
    name: str

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ValueError(f"width must be >= 1, got {self.width}")


def _shape(
    width: Annotated[int, typer.Option("--width", help="How wide.")] = 4,
    depth: Annotated[int, typer.Option("--depth", help="How deep.")] = 2,
    name: Annotated[str, typer.Option("--name", help="What it is called.")] = "box",
) -> Shape:
    return Shape(width, depth, name)


SHAPE = OptionGroup(_shape)
seen: list[object] = []


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @with_option_groups
    def full(
        first: str = typer.Option("a", "--first"),
        shape: Built[Shape] = SHAPE,
        last: str = typer.Option("z", "--last"),
        skip: bool = typer.Option(False, "--skip", help="Return before building the shape."),
    ) -> None:
        seen.append(None if skip else (first, shape(), last))

    @app.command()
    @with_option_groups
    def narrow(shape: Built[Shape] = SHAPE.without("depth", "name")) -> None:
        seen.append(shape())

    return app


def _options(app: typer.Typer, name: str) -> list[str]:
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    return [p.opts[0] for p in commands[name].params]  # the first name of each, in order


def test_a_group_expands_in_place_and_builds_what_was_given() -> None:
    app = _app()
    assert _options(app, "full") == ["--first", "--width", "--depth", "--name", "--last", "--skip"]
    seen.clear()
    res = CliRunner().invoke(app, ["full", "--depth", "7", "--last", "y", "--name", "cup"])
    assert res.exit_code == 0, res.output
    assert seen == [("a", Shape(4, 7, "cup"), "y")]


def test_without_drops_options_and_keeps_their_defaults() -> None:
    app = _app()
    assert _options(app, "narrow") == ["--width"]
    seen.clear()
    assert CliRunner().invoke(app, ["narrow", "--width", "3"]).exit_code == 0
    assert seen == [Shape(3, 2, "box")]
    res = CliRunner().invoke(app, ["narrow", "--depth", "3"])
    assert res.exit_code == 2 and "No such option" in res.output


def test_the_group_is_validated_only_when_the_command_builds_it() -> None:
    app = _app()
    seen.clear()
    assert CliRunner().invoke(app, ["full", "--width", "0", "--skip"]).exit_code == 0
    res = CliRunner().invoke(app, ["full", "--width", "0"])
    assert isinstance(res.exception, ValueError) and "width must be >= 1" in str(res.exception)
    assert seen == [None]


def test_an_option_declared_twice_or_an_unknown_omission_is_refused() -> None:
    def twice(width: int = typer.Option(1, "--w"), shape: Built[Shape] = SHAPE) -> None: ...

    with pytest.raises(TypeError, match=r"declared twice.*width"):
        with_option_groups(twice)
    with pytest.raises(TypeError, match=r"no options.*height"):
        SHAPE.without("height")


def test_the_verbs_keep_their_model_and_engine_options_in_place() -> None:
    model = ["--backend", "--model", "--base-url", "--concurrency", "--max-cost", "--dry-run", "--no-cache"]
    engine = ["--engine", "--actors", "--num-cpus-per-actor", "--num-gpus-per-actor", "--shard-size", "--ray-address"]
    grade = _options(stepsieve_app, "grade")
    i = grade.index("--backend")
    assert grade[i - 1] == "--label" and grade[i:i + 9] == [*model, "--timeout", "--api-key-file"]
    assert grade[i + 9] == "--from" and grade[-7:] == ["--quiet", *engine]
    augment = _options(stepsieve_app, "augment")
    assert augment[augment.index("--backend"):][:8] == [*model, "--from"] and augment[-6:] == engine
    pairs = _options(stepsieve_app, "pairs")
    assert pairs[pairs.index("--backend"):][:7] == [*[o for o in model if o != "--dry-run"], "--on-error"]
    assert _options(stepsieve_app, "sample")[-6:] == engine


def test_grade_lists_a_graders_options_before_checking_the_model_options() -> None:
    # --backend openai without --model is an error, but only once the model options are built
    res = CliRunner().invoke(stepsieve_app, ["grade", "--grader", "judge", "--backend", "openai", "--help-options"])
    assert res.exit_code == 0, res.output
    assert "votes" in res.output
