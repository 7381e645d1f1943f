"""Segmenters, and the ``responses`` format that applies them to raw responses."""

from __future__ import annotations

import pytest

from stepsieve import ConfigError
from stepsieve.formats import get_format
from stepsieve.segment import SEGMENTERS, get_segmenter

RESPONSE = "First, 3 * 4 = 12.\n\nThen 2 + 12 = 14.\n  \nSo the answer is 14."


def test_registered_names():
    assert SEGMENTERS.names() == ["blank-line", "regex", "single-line", "step-marker", "tag"]


def test_blank_line_is_the_default_and_ignores_whitespace_only_lines():
    assert get_segmenter().split(RESPONSE) == ["First, 3 * 4 = 12.", "Then 2 + 12 = 14.", "So the answer is 14."]


def test_single_line():
    assert get_segmenter("single-line").split("a = 1\n\nb = 2\nc = 3\n") == ["a = 1", "b = 2", "c = 3"]


def test_step_markers_keep_marker_and_preamble():
    text = "Let's solve it.\nStep 1: add 2 and 3\nto get 5.\n**Step 2.** double it: 10\n## Step 3: done"
    assert get_segmenter("step-marker").split(text) == [
        "Let's solve it.", "Step 1: add 2 and 3\nto get 5.", "**Step 2.** double it: 10", "## Step 3: done"
    ]


def test_step_marker_needs_line_start():
    assert get_segmenter("step-marker").split("see Step 1: inline") == ["see Step 1: inline"]


def test_user_regex():
    seg = get_segmenter(r"regex:^-{3,}$")
    assert seg.split("a\n---\nb\n-----\nc") == ["a", "b", "c"]


def test_tag():
    assert get_segmenter("tag:<eos>").split("a <eos> b <eos> tail") == ["a", "b"]


@pytest.mark.parametrize("spec, msg", [("regex:(", "invalid segmenter pattern"), ("regex:x*", "matches the empty"),
                                       ("blank-line:x", "takes no argument"), ("paragraph", "unknown segmenter")])
def test_bad_specs_are_config_errors(spec, msg):
    with pytest.raises(ConfigError, match=msg):
        get_segmenter(spec)


def test_responses_format_segments_and_round_trips_exactly():
    fmt = get_format("responses")
    rec = {"id": "r1", "prompt": "What is 2 + 3 * 4?", "response": RESPONSE, "model": "tiny"}
    t = fmt.decode(rec)
    assert [s.text for s in t.steps] == ["First, 3 * 4 = 12.", "Then 2 + 12 = 14.", "So the answer is 14."]
    assert fmt.encode(t) == rec  # the non-normal "  " line is kept verbatim
    t.steps[1].text = "Then 2 + 12 = 15."  # an edit is written, not the stale original
    assert fmt.encode(t)["response"] == "First, 3 * 4 = 12.\n\nThen 2 + 12 = 15.\n\nSo the answer is 14."


def test_responses_with_another_segmenter():
    fmt = get_format("responses", segmenter="single-line")
    t = fmt.decode({"prompt": "p", "response": "a\nb"})
    assert [s.text for s in t.steps] == ["a", "b"] and "id" not in fmt.encode(t)
