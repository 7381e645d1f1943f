"""Graders as plug-ins: typed options from strings, --help-options, did-you-mean, the old
flags as aliases, and a third-party grader found through its entry point."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
from typer.testing import CliRunner

from stepsieve import ConfigError
from stepsieve._registry import describe_options, parse_options
from stepsieve.cli import app
from stepsieve.formats import read_trajectories, write_trajectories
from stepsieve.graders import GradeContext, MCOptions, build_grader, config_hash
from stepsieve.trajectory import Label, Step, Trajectory

sys.path.insert(0, str(Path(__file__).parent))
from _fakes import ScriptedBackend

runner = CliRunner()
SRC = Path(__file__).resolve().parents[2] / "src"


@dataclass(frozen=True)
class Knobs:
    count: int = 1  # how many
    rate: float | None = None  # a rate
    on: bool = False
    kind: Literal["a", "b"] = "a"  # one of two
    name: str = "x"


def test_values_are_coerced_to_the_declared_types():
    k = parse_options(Knobs, {"count": "3", "rate": "0.5", "on": "yes", "kind": "b", "name": "7"}, "thing")
    assert k == Knobs(3, 0.5, True, "b", "7")
    assert parse_options(Knobs, {"rate": "none", "on": "off"}, "thing") == Knobs(rate=None, on=False)
    assert parse_options(Knobs, {"count": 4, "rate": 1}, "thing") == Knobs(count=4, rate=1.0)  # typed values pass


@pytest.mark.parametrize("values, needle", [
    ({"count": "1.5"}, "option count expects int, got '1.5'"),
    ({"on": "maybe"}, "option on expects bool"),
    ({"kind": "c"}, "option kind expects a|b"),
    ({"rate": "fast"}, "option rate expects float | None"),
    ({"cuont": "2"}, "thing has no option 'cuont'; did you mean 'count'?"),
])
def test_bad_values_and_unknown_keys_are_clear_errors(values, needle):
    with pytest.raises(ConfigError, match=needle.replace("?", r"\?").replace("|", r"\|")):
        parse_options(Knobs, values, "thing")


def test_options_built_in_code_are_checked_too():
    with pytest.raises(ConfigError, match=re.escape("grader 'mc': option mode expects every-step|first-error")):
        MCOptions(mode="binary")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="option n expects int"):
        MCOptions(n="4")  # type: ignore[arg-type]


def test_help_comes_from_the_field_comments():
    text = describe_options(Knobs, "thing")
    assert "count  int" in text and "how many" in text and "one of two" in text and "a|b" in text


def test_build_grader_applies_options_and_rejects_unknown_ones():
    g = build_grader("mc", {"n": "3", "mode": "first-error", "world": "arith"}, GradeContext(backend=ScriptedBackend))
    assert g.options.n == 3 and g.mode == "first-error" and g.world.name == "arith" and g.name == "mc"
    with pytest.raises(ConfigError, match="grader 'mc' has no option 'vote'"):
        build_grader("mc", {"vote": "3"}, GradeContext(backend=ScriptedBackend))
    with pytest.raises(ConfigError, match="did you mean 'judge'"):
        build_grader("jduge")


def test_mc_world_defaults_to_the_records_world(tmp_path):
    src = tmp_path / "in.jsonl"
    write_trajectories([Trajectory("t", "q", [Step(0, "1 + 1 = 2")], meta={"world": "toolcalc"})], src)
    g = build_grader("mc", {}, GradeContext(backend=ScriptedBackend, source=src))
    assert g.world.name == "toolcalc"
    g = build_grader("mc", {"world": "arith"}, GradeContext(backend=ScriptedBackend, source=src))
    assert g.world.name == "arith"


def test_cli_help_options_lists_name_type_default_help():
    r = runner.invoke(app, ["grade", "--grader", "mc", "--help-options"])
    assert r.exit_code == 0, r.output
    assert "Options of grader 'mc'" in r.output
    line = next(ln for ln in r.output.splitlines() if ln.split()[:1] == ["n"])
    assert line.split()[1:3] == ["int", "8"] and "rollouts per probed prefix" in line
    r = runner.invoke(app, ["grade", "--grader", "rules", "--help-options"])
    assert r.exit_code == 0 and "tool_errors" in r.output


def rules_input(path):
    write_trajectories([Trajectory("t", "q", [Step(0, "2 + 2 = 5")])], path)


def test_cli_rejects_unknown_options_and_flags_with_a_hint(tmp_path):
    src = tmp_path / "in.jsonl"
    rules_input(src)
    r = runner.invoke(app, ["grade", str(src), str(tmp_path / "o.jsonl"), "--grader", "rules", "-o", "claim=false"])
    assert r.exit_code != 0 and "did you mean 'claims'" in str(r.exception)
    r = runner.invoke(app, ["grade", str(src), str(tmp_path / "o.jsonl"), "--grader", "rules", "--votes", "3"])
    assert r.exit_code != 0 and "grader 'rules' has no option 'votes'" in str(r.exception)
    r = runner.invoke(app, ["grade", str(src), str(tmp_path / "o.jsonl"), "--grader", "rules", "-o", "claims"])
    assert r.exit_code != 0 and "KEY=VALUE" in str(r.exception)
    assert not (tmp_path / "o.jsonl").exists()


def test_cli_option_and_flag_reach_the_grader(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "o.jsonl"
    rules_input(src)
    r = runner.invoke(app, ["grade", str(src), str(out), "--grader", "rules", "-o", "claims=false", "-q"])
    assert r.exit_code == 0, r.output
    (t,) = read_trajectories(out)
    assert t.steps[0].labels["rules"].verdict is None  # the false claim was not checked
    assert t.steps[0].labels["rules"].grader.hash == config_hash("rules", {"tool_errors": True, "claims": False})


def test_cli_consensus_mode_flag_is_an_alias(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "o.jsonl"
    steps = [Step(0, "a", labels={"x": Label(1.0, "correct"), "y": Label(0.0, "incorrect")})]
    write_trajectories([Trajectory("t", "q", steps)], src)
    r = runner.invoke(app, ["grade", str(src), str(out), "--grader", "consensus", "--first", "x", "--second", "y",
                            "--mode", "label", "-q"])
    assert r.exit_code == 0, r.output
    (t,) = read_trajectories(out)
    assert t.steps[0].labels["consensus"].extra["agree"] is False  # label mode keeps disagreeing trajectories


PLUGIN = '''
"""A third-party grader: writes one verdict and score on every step."""
from dataclasses import dataclass
from typing import Literal

from stepsieve.graders import grader_ref, hashed_config
from stepsieve.trajectory import Label


@dataclass(frozen=True)
class ShoutOptions:
    verdict: Literal["correct", "incorrect"] = "correct"  # the verdict written on every step
    score: float = 1.0  # the score written on every step
    loud: bool = False  # shout the rationale


class ShoutGrader:
    Options = ShoutOptions

    def __init__(self, name="shout", **options):
        self.options = ShoutOptions(**options)
        self.name = name
        self.config = hashed_config(self.options)
        self._ref = grader_ref(name, self.config)

    def grade(self, trajectories):
        for t in trajectories:
            for s in t.steps:
                o = self.options
                s.labels[self.name] = Label(o.score, o.verdict, "HEY" if o.loud else "hey", grader=self._ref)
            yield t
'''


def test_third_party_grader_from_an_entry_point(tmp_path):
    site = tmp_path / "site"
    (site / "shout_grader-0.1.dist-info").mkdir(parents=True)
    (site / "shout_grader.py").write_text(textwrap.dedent(PLUGIN))
    (site / "shout_grader-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: shout-grader\nVersion: 0.1\n"
    )
    (site / "shout_grader-0.1.dist-info" / "entry_points.txt").write_text(
        "[stepsieve.graders]\nshout = shout_grader:ShoutGrader\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(SRC)])}
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_trajectories([Trajectory("t", "q", [Step(0, "a"), Step(1, "b")])], src)

    def cli(*args):
        cmd = [sys.executable, "-c", "from stepsieve.cli import main; main()", "grade", *args]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)

    r = cli("--grader", "shout", "--help-options")
    assert r.returncode == 0, r.stderr
    assert "verdict" in r.stdout and "correct|incorrect" in r.stdout and "the verdict written on every step" in r.stdout
    r = cli(str(src), str(out), "--grader", "shout", "-o", "verdict=incorrect", "-o", "score=0.25", "--loud", "-q")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["graded"] == 1
    (t,) = read_trajectories(out)
    lab = t.steps[1].labels["shout"]
    assert (lab.verdict, lab.score, lab.rationale) == ("incorrect", 0.25, "HEY")
    assert lab.grader.hash == config_hash("shout", {"verdict": "incorrect", "score": 0.25, "loud": True})
    r = cli(str(src), str(tmp_path / "bad.jsonl"), "--grader", "shout", "-o", "scroe=1")
    assert r.returncode != 0 and "did you mean 'score'" in r.stderr
