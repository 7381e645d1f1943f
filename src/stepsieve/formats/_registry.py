"""The format registry: names -> adapter classes (lazy), and ``get_format`` to build one
with options, coercing option strings from the CLI to each option's declared type."""

from __future__ import annotations

import dataclasses
from typing import Any

from stepsieve._registry import Registry, parse_options
from stepsieve.formats._protocol import Format

__all__ = ["FORMATS", "format_options", "get_format"]

FORMATS: Registry[type] = Registry("format", group="stepsieve.formats")
FORMATS.register("stepsieve", "stepsieve.formats.stepsieve:Stepsieve")
FORMATS.register("processbench", "stepsieve.formats.processbench:ProcessBench")
FORMATS.register("prmbench", "stepsieve.formats.prmbench:PRMBench")
FORMATS.register("prm800k", "stepsieve.formats.prm800k:PRM800K")
FORMATS.register("math-shepherd", "stepsieve.formats.math_shepherd:MathShepherd")
FORMATS.register("trl", "stepsieve.formats.trl:TRLStepwise")
FORMATS.register("openai-chat", "stepsieve.formats.openai_chat:OpenAIChat")
FORMATS.register("responses", "stepsieve.formats.responses:Responses")
FORMATS.register("anthropic", "stepsieve.formats.anthropic:Anthropic")
FORMATS.register("claude-code", "stepsieve.formats.claude_code:ClaudeCode")
FORMATS.register("mini-swe-agent", "stepsieve.formats.mini_swe_agent:MiniSweAgent")
FORMATS.register("swe-agent", "stepsieve.formats.swe_agent:SweAgent")
FORMATS.register("openhands", "stepsieve.formats.openhands:OpenHands")
FORMATS.register("openai-agents", "stepsieve.formats.openai_agents:OpenAIAgents")
FORMATS.register("otel-genai", "stepsieve.formats.otel_genai:OtelGenAI")
FORMATS.register("tau-bench", "stepsieve.formats.tau_bench:TauBench")
FORMATS.register("inspect", "stepsieve.formats.inspect_log:InspectLog")
FORMATS.register("osworld", "stepsieve.formats.osworld:OSWorld")


def format_options(name: str) -> dict[str, tuple[Any, Any]]:
    """The options a format takes: name -> (type, default)."""
    cls = FORMATS.get(name)
    return {f.name: (f.type, f.default) for f in dataclasses.fields(cls)}


def get_format(name: str, **options: Any) -> Format:
    """An adapter instance: ``get_format("prm800k", neutral="correct")``. Option strings are
    parsed to the field types; unknown options are errors with a did-you-mean (a misspelt
    option must not silently fall back to a default). The same parser serves graders."""
    return parse_options(FORMATS.get(name), options, f"format {name!r}")
