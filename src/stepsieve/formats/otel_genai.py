"""``otel-genai``: OpenTelemetry GenAI spans (``gen_ai.*`` semantic conventions).

Two layouts of the same spans are read: OTLP JSON (``{"resourceSpans": [{"resource": ...,
"scopeSpans": [{"scope": ..., "spans": [{"traceId", "spanId", "parentSpanId", "name",
"startTimeUnixNano", "attributes": [{"key", "value": {"stringValue": ...}}]}]}]}]}``) and a
Langfuse trace export (``{"trace": {...}, "observations": [{"id", "traceId", "type":
"GENERATION" | "TOOL" | "SPAN" | ..., "parentObservationId", "startTime", "input", "output",
"metadata": {"attributes": {...}}}]}``). A file may hold several traces: one trajectory each.

Mapping: a model call (OTLP ``gen_ai.operation.name`` chat / text_completion /
generate_content; Langfuse ``GENERATION``) is a step, in start-time order. Its output
messages (``gen_ai.output.messages``: ``{"role": "assistant", "parts": [{"type": "text",
"content"}, {"type": "tool_call", "id", "name", "arguments"}, {"type": "reasoning", ...}]}``)
give its Actions (tool calls, ``arguments`` dumped when they are an object) and its text
(``thought`` of an action step, or the text of a ``reasoning`` step). Tool executions
(``execute_tool`` spans, Langfuse ``TOOL``) are paired by ``gen_ai.tool.call.id`` and give the
observations; where a call has no tool span, a later model call's ``tool_call_response``
input part with its id does. The first model call's input messages are the ``task``. Each
step keeps its span (id, name, parent, agent name from the enclosing ``gen_ai.agent.name``
span, attributes) in ``meta["span"]``; other spans are kept in ``meta["other_spans"]``, a
Langfuse observation type the importer does not know in ``meta["unknown_events"]``; the
trace's own fields (Langfuse) in ``meta["trace"]``.

Read-only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from stepsieve._errors import SchemaError
from stepsieve.formats._agent import UNKNOWN_EVENTS, Turn, list_of, obj_of, tool_action
from stepsieve.formats._fields import type_name
from stepsieve.formats._files import DocumentFormat
from stepsieve.formats.anthropic import read_only
from stepsieve.trajectory import Outcome, Trajectory

__all__ = ["OtelGenAI"]

_CHAT_OPS = frozenset({"chat", "text_completion", "generate_content"})
_LANGFUSE_OTHER = frozenset(
    {"SPAN", "EVENT", "AGENT", "CHAIN", "RETRIEVER", "EMBEDDING", "GUARDRAIL", "EVALUATOR"}
)


def _otlp_value(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    for k in ("stringValue", "boolValue", "doubleValue"):
        if k in v:
            return v[k]
    if "intValue" in v:
        return int(v["intValue"])
    if "arrayValue" in v:
        return [_otlp_value(x) for x in (v["arrayValue"].get("values") or [])]
    if "kvlistValue" in v:
        return {kv["key"]: _otlp_value(kv.get("value")) for kv in v["kvlistValue"].get("values") or []}
    return None


def _json(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def _spans_otlp(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spans = []
    for rs in doc.get("resourceSpans") or []:
        for ss in rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []:
            for sp in ss.get("spans") or []:
                attrs = {
                    a["key"]: _otlp_value(a.get("value")) for a in sp.get("attributes") or [] if "key" in a
                }
                op = attrs.get("gen_ai.operation.name")
                kind = "GENERATION" if op in _CHAT_OPS else "TOOL" if op == "execute_tool" else "SPAN"
                spans.append(
                    {
                        "id": sp.get("spanId"),
                        "trace": sp.get("traceId"),
                        "parent": sp.get("parentSpanId") or None,
                        "name": sp.get("name"),
                        "start": str(sp.get("startTimeUnixNano", "")).zfill(24),
                        "type": kind,
                        "attributes": attrs,
                        "input": _json(
                            attrs.get("gen_ai.input.messages", attrs.get("gen_ai.tool.call.arguments"))
                        ),
                        "output": _json(
                            attrs.get("gen_ai.output.messages", attrs.get("gen_ai.tool.call.result"))
                        ),
                        "raw": {k: v for k, v in sp.items() if k != "attributes"},
                    }
                )
    return spans


def _spans_langfuse(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spans = []
    for o in doc.get("observations") or []:
        md = obj_of(o.get("metadata"))
        attrs = obj_of(md.get("attributes"))
        spans.append(
            {
                "id": o.get("id"),
                "trace": o.get("traceId"),
                "parent": o.get("parentObservationId"),
                "name": o.get("name"),
                "start": str(o.get("startTime", "")),
                "type": o.get("type"),
                "attributes": attrs,
                "input": _json(o.get("input")),
                "output": _json(o.get("output")),
                "raw": {k: v for k, v in o.items() if k not in ("input", "output", "metadata")},
            }
        )
    return spans


def _part_text(p: dict[str, Any]) -> str:
    v = p.get("content", p.get("text", ""))
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


@dataclass(frozen=True)
class OtelGenAI(DocumentFormat):
    """OTel GenAI spans (OTLP JSON, Langfuse export) -> one trajectory per trace (read-only)."""

    name: ClassVar[str] = "otel-genai"
    description: ClassVar[str] = (
        "OpenTelemetry GenAI spans (OTLP JSON or Langfuse export), a trajectory per trace (read-only)"
    )

    def split(self, doc: Any) -> Iterable[Any]:
        if isinstance(doc, dict) and "resourceSpans" in doc:
            spans = _spans_otlp(doc)
            header: dict[str, Any] = {}
        elif isinstance(doc, dict) and "observations" in doc:
            spans = _spans_langfuse(doc)
            header = obj_of(doc.get("trace"))
        else:
            return (doc,)  # decode says what is wrong
        traces: dict[Any, list[dict[str, Any]]] = {}
        for sp in spans:
            traces.setdefault(sp["trace"], []).append(sp)
        return [{"trace_id": tid, "trace": header, "spans": sps} for tid, sps in traces.items()]

    def decode(self, obj: Any) -> Trajectory:
        if isinstance(obj, dict) and ("resourceSpans" in obj or "observations" in obj):
            parts = list(self.split(obj))
            if len(parts) != 1:
                raise SchemaError(
                    f"the document holds {len(parts)} traces: read the file to get one trajectory each"
                )
            obj = parts[0]
        if not isinstance(obj, dict) or not isinstance(obj.get("spans"), list):
            raise SchemaError(
                "expected OTLP JSON (resourceSpans) or a Langfuse export (observations), "
                f"got {type_name(obj)}"
            )
        spans = sorted(obj["spans"], key=lambda s: s["start"])
        by_id = {s["id"]: s for s in spans}
        tool_results = {s["attributes"].get("gen_ai.tool.call.id"): s for s in spans if s["type"] == "TOOL"}
        task: list[Any] | str = ""
        turns: list[Turn] = []
        owner: dict[str, Turn] = {}
        other: list[Any] = []
        unknown: list[Any] = []
        for sp in spans:
            if sp["type"] == "GENERATION":
                if not turns:
                    task = sp["input"] if isinstance(sp["input"], list) else str(sp["input"] or "")
                else:  # tool responses this call was given, for calls without a tool span
                    self._responses(sp["input"], owner, tool_results)
                turns.append(self._turn(sp, by_id, owner))
            elif sp["type"] == "TOOL":
                continue
            elif sp["type"] in _LANGFUSE_OTHER:
                other.append({k: v for k, v in sp.items() if k != "raw"} | {"raw": sp["raw"]})
            else:
                unknown.append({"where": f"span {sp['id']}", "event": sp})
        for call_id, sp in tool_results.items():
            turn = owner.get(call_id) if isinstance(call_id, str) else None
            if turn is None:
                other.append(sp)
                continue
            out = sp["output"]
            turn.add_result(call_id, out if isinstance(out, str) else json.dumps(out, ensure_ascii=False))
            turn.meta.setdefault("tool_spans", []).append({"id": sp["id"], "name": sp["name"], **sp["raw"]})
        if not turns:
            raise SchemaError("empty step list: the trace has no model call (gen_ai chat span)")
        steps = [t.step(i) for i, t in enumerate(turns)]
        meta: dict[str, Any] = {"source": "otel-genai", "trace_id": obj.get("trace_id")}
        if obj.get("trace"):
            meta["trace"] = obj["trace"]
        if other:
            meta["other_spans"] = other
        if unknown:
            meta[UNKNOWN_EVENTS] = unknown
        answer = steps[-1].text if steps[-1].kind == "reasoning" else None
        return Trajectory(str(obj.get("trace_id")), task, steps, Outcome(answer=answer), meta=meta)

    def _turn(self, sp: dict[str, Any], by_id: dict[Any, Any], owner: dict[str, Turn]) -> Turn:
        agent = None
        p = by_id.get(sp["parent"])
        while p is not None and agent is None:
            agent = p["attributes"].get("gen_ai.agent.name")
            p = by_id.get(p["parent"])
        turn = Turn(
            {
                "span": {
                    "id": sp["id"],
                    "name": sp["name"],
                    "parent": sp["parent"],
                    "agent": agent,
                    "attributes": sp["attributes"],
                    **sp["raw"],
                }
            }
        )
        out = sp["output"]
        msgs = out if isinstance(out, list) else [out] if isinstance(out, dict) else []
        for m in msgs:
            for part in (m.get("parts") or []) if isinstance(m, dict) else []:
                if not isinstance(part, dict):
                    continue
                kind = part.get("type")
                if kind == "text":
                    turn.texts.append(_part_text(part))
                elif kind in ("reasoning", "thinking"):
                    turn.thinking.append(_part_text(part))
                elif kind == "tool_call":
                    call_id = part.get("id")
                    turn.actions.append(tool_action(str(part.get("name")), part.get("arguments"), call_id))
                    if isinstance(call_id, str):
                        owner[call_id] = turn
                else:
                    turn.meta.setdefault("other_parts", []).append(part)
        if isinstance(out, str):
            turn.texts.append(out)
        return turn

    def _responses(self, inp: Any, owner: dict[str, Turn], tool_spans: dict[Any, Any]) -> None:
        for m in list_of(inp):
            for part in (m.get("parts") or []) if isinstance(m, dict) else []:
                if isinstance(part, dict) and part.get("type") == "tool_call_response":
                    call_id = part.get("id")
                    turn = owner.get(call_id) if isinstance(call_id, str) else None
                    if turn is not None and call_id not in tool_spans and call_id not in turn.results:
                        assert isinstance(call_id, str)
                        res = part.get("response", part.get("result"))
                        turn.add_result(
                            call_id, res if isinstance(res, str) else json.dumps(res, ensure_ascii=False)
                        )

    def encode(self, t: Trajectory) -> dict[str, Any]:
        raise read_only(self.name)
