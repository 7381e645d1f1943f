"""Property-based tests (hypothesis) of every reader and importer (issue 17): inputs made by
mutating real records of each format never give a traceback — a record is read or rejected
with a DataError — and always ``read = accepted + rejected``, where ``read`` counts every
record the file holds.

Examples per format: ``STEPSIEVE_HYPOTHESIS_EXAMPLES`` (default 40, so the suite stays fast;
the issue's figure is 10000:
``STEPSIEVE_HYPOTHESIS_EXAMPLES=10000 pytest tests/reliability/test_reader_properties.py``).
Failing examples are not shrunk unless ``STEPSIEVE_HYPOTHESIS_SHRINK=1`` (a shrink of a large
agent session took minutes): the first failing input is reported as drawn."""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from stepsieve import DataError, StepsieveError
from stepsieve.formats import FORMATS, get_format
from stepsieve.formats._files import FileFormat
from stepsieve.formats._io import Reader
from stepsieve.trajectory import Label, Outcome, Step, Trajectory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXAMPLES = int(os.environ.get("STEPSIEVE_HYPOTHESIS_EXAMPLES", "40"))
PHASES = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if os.environ.get(
    "STEPSIEVE_HYPOTHESIS_SHRINK") else [])
PROPS = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 100, phases=PHASES,
                 database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                        HealthCheck.function_scoped_fixture])

# Read-only importers: real files of their layout (tests/fixtures/agents, from the projects).
DOCS = {
    "anthropic": None,
    "osworld": None,
    "claude-code": "agents/claude-code/short.jsonl",
    "mini-swe-agent": "agents/mini-swe-agent/testdata_local.traj.json",
    "openai-agents": "agents/openai/minimal_v1_17.json",
    "openhands": "agents/openhands/basic_interactions.json",
    "otel-genai": "agents/otel-genai/pydantic-ai-tools-2025-12-04.trace.json",
    "swe-agent": "agents/swe-agent/demo__function_calling_simple.traj",
}
BINARY = {"inspect": "agents/inspect-ai/log_read_sample.eval"}  # a zip: mutated as bytes


def _canonical() -> list[Trajectory]:
    ok, bad = Label(1.0, "correct"), Label(0.0, "incorrect")
    return [
        Trajectory("p1", "What is 2+3?", [Step(0, "2 + 3 = 5", labels={"truth": ok}),
                                          Step(1, "Answer: 5", labels={"truth": ok})],
                   Outcome("5", True, 1.0), reference="5"),
        Trajectory("p2", "What is 4*4?", [Step(0, "4 * 4 = 15", labels={"truth": bad}),
                                          Step(1, "Answer: 15", labels={"truth": Label(None, None)})],
                   Outcome("15", False, 0.0), reference="16"),
    ]


def _seeds(name: str) -> list[Any] | None:
    """Real records of the format: encoded from canonical trajectories, or read from a fixture."""
    fmt = get_format(name)
    out = []
    for t in _canonical():
        try:
            out.append(fmt.encode(t))
        except DataError:
            break
    if out:
        return out
    rel = DOCS.get(name)
    if rel is None:
        if name == "anthropic":  # the Messages API layout
            return [{"id": "m1", "messages": [{"role": "user", "content": "Add 2 and 3"},
                                              {"role": "assistant", "content": [
                                                  {"type": "text", "text": "Calling add."},
                                                  {"type": "tool_use", "id": "tu1", "name": "add",
                                                   "input": {"a": 2, "b": 3}}]},
                                              {"role": "user", "content": [
                                                  {"type": "tool_result", "tool_use_id": "tu1", "content": "5"}]},
                                              {"role": "assistant", "content": "The answer is 5."}]}]
        if name == "osworld":  # the lines of one traj.jsonl (no screenshot files beside them)
            return [
                {"step_num": 1, "action": "pyautogui.click(412, 230)", "response": "Open search.", "reward": 0,
                 "done": False, "info": {}},
                {"step_num": 2, "action": {"action_type": "TYPING", "parameters": {"text": "mug"}}, "reward": 0,
                 "done": False, "info": {}},
                {"step_num": 3, "action": "DONE", "reward": 1, "done": True, "info": {}},
                {"Error": "Time limit exceeded"},
            ]
        return None
    data = (FIXTURES / rel).read_bytes()
    if rel.endswith(".jsonl"):
        return [orjson.loads(x) for x in data.splitlines() if x.strip()]
    return [orjson.loads(data)]


_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(_TEXT, c, max_size=3),
    max_leaves=8,
)


def _paths(v: Any, here: tuple = ()) -> list[tuple]:
    out = [here]
    if isinstance(v, dict):
        for k, x in v.items():
            out += _paths(x, (*here, k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            out += _paths(x, (*here, i))
    return out


@st.composite
def _mutated(draw: st.DrawFn, seed: Any) -> Any:
    """``seed`` with a few random edits: a value replaced (any JSON, or a type change), a key
    or list item deleted, a container emptied."""
    v = copy.deepcopy(seed)
    for _ in range(draw(st.integers(0, 4))):
        path = draw(st.sampled_from(_paths(v)))
        op = draw(st.sampled_from(["replace", "delete", "empty", "string"]))
        if not path:
            v = draw(_JSON) if op == "replace" else v
            continue
        parent = v
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        if op == "delete":
            del parent[key]
        elif op == "empty":
            parent[key] = type(parent[key])() if isinstance(parent[key], (dict, list, str)) else None
        elif op == "string":
            parent[key] = str(parent[key])
        else:
            parent[key] = draw(_JSON)
    return v


def _check(name: str, path: Path, expected: int | None) -> None:
    """The properties: no exception but a DataError; read = accepted + rejected; read counts
    every record written (``expected``, when the container says how many)."""
    reader = Reader(path, name, on_error="skip")
    try:
        got = list(reader)
    except DataError:
        got = None  # a file-level error (not one record): a clear error, not a traceback
    except StepsieveError:
        got = None
    if got is not None:
        assert reader.read == reader.accepted + reader.rejected == len(got) + reader.rejected
        if expected is not None:
            assert reader.read == expected
        for t in got:  # what is accepted is a valid record: it round-trips
            Trajectory.from_dict(orjson.loads(orjson.dumps(t.to_dict())))
    strict = Reader(path, name, on_error="raise")
    try:
        n = sum(1 for _ in strict)
    except StepsieveError:
        return
    if got is not None:
        assert n == len(got) and reader.rejected == 0


NAMES = sorted(n for n in FORMATS.names() if n not in BINARY)


@pytest.mark.parametrize("name", NAMES)
def test_mutated_records_are_read_or_rejected_never_a_traceback(name):
    seeds = _seeds(name)
    assert seeds, f"no seed records for format {name}"
    fmt = get_format(name)
    per_file = isinstance(fmt, FileFormat) and name not in ("stepsieve",)

    @PROPS
    @given(data=st.data())
    def prop(data: st.DataObject) -> None:
        if per_file and name in ("claude-code", "osworld"):  # one run a file: its events are the lines
            events = [data.draw(_mutated(e)) for e in seeds]
            lines = [orjson.dumps(e) for e in events]
            expected = None
        else:
            k = data.draw(st.integers(1, 3))
            lines = [orjson.dumps(data.draw(_mutated(data.draw(st.sampled_from(seeds))))) for _ in range(k)]
            expected = None if per_file else len(lines)
        if data.draw(st.booleans()) and not per_file:
            lines.insert(data.draw(st.integers(0, len(lines))), data.draw(st.sampled_from(
                [b"{", b"not json", b"[1, 2", b'{"id": "x"', b"\x00\xff"])))
            expected = None if expected is None else expected + 1
        bom = b"\xef\xbb\xbf" if data.draw(st.booleans()) else b""
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / ("in.jsonl" if len(lines) > 1 or not per_file else "in.json")
            path.write_bytes(bom + b"\n".join(lines) + b"\n")
            _check(name, path, expected)

    prop()


@pytest.mark.parametrize("name", sorted(BINARY))
def test_a_damaged_binary_log_is_a_clear_error(name):
    pytest.importorskip("inspect_ai")
    good = (FIXTURES / BINARY[name]).read_bytes()

    @PROPS
    @given(cut=st.integers(0, len(good)), flips=st.lists(st.tuples(st.integers(0, len(good) - 1),
                                                                   st.integers(0, 255)), max_size=4))
    def prop(cut: int, flips: list[tuple[int, int]]) -> None:
        data = bytearray(good[:cut] if cut < len(good) else good)
        for pos, byte in flips:
            if pos < len(data):
                data[pos] = byte
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "log.eval"
            path.write_bytes(bytes(data))
            _check(name, path, None)

    prop()
