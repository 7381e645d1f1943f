"""The canonical Parquet schema of a Trajectory, and the row conversions.

Typed columns wherever a user will query (ids, step texts, label scores and verdicts,
outcomes); JSON text only where the content is open-ended (``meta``, a message-list
``task``, ``Label.extra``), because Arrow needs one fixed type per column. Labels are a
list of structs carrying their grader name rather than an Arrow map, so that
``datasets.load_dataset("parquet", ...)`` reads the file (it has no map type).
docs/formats.md documents the layout.
"""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa

from stepsieve.trajectory._record import Trajectory

__all__ = ["TRAJECTORY_SCHEMA", "row_to_dict", "trajectory_to_row"]

_COST = pa.struct(
    [("calls", pa.int64()), ("tokens_in", pa.int64()), ("tokens_out", pa.int64()), ("seconds", pa.float64())]
)
_GRADER = pa.struct([("name", pa.string()), ("hash", pa.string())])
_LABEL = pa.struct(
    [
        ("name", pa.string()),
        ("score", pa.float64()),
        ("verdict", pa.string()),
        ("rationale", pa.string()),
        ("cost", _COST),
        ("grader", _GRADER),
        ("extra", pa.string()),  # JSON text
    ]
)
_STEP = pa.struct(
    [
        ("index", pa.int64()),
        ("text", pa.string()),
        ("kind", pa.string()),
        ("observation", pa.string()),
        ("thought", pa.string()),
        ("labels", pa.list_(_LABEL)),
        ("meta", pa.string()),  # JSON text
    ]
)
TRAJECTORY_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int32()),
        ("id", pa.string()),
        ("task", pa.string()),  # the problem text; null when the task is a message list
        ("task_messages", pa.string()),  # JSON text of the message list; null when task is text
        ("steps", pa.list_(_STEP)),
        ("outcome", pa.struct([("answer", pa.string()), ("correct", pa.bool_()), ("reward", pa.float64())])),
        ("reference", pa.string()),
        ("meta", pa.string()),  # JSON text
    ],
    metadata={b"stepsieve.schema": b"trajectory/1"},
)

_dumps = orjson.dumps
_loads = orjson.loads


def _json(v: Any) -> str | None:
    return _dumps(v).decode() if v else None


def trajectory_to_row(t: Trajectory) -> dict[str, Any]:
    """A Trajectory as one row of ``TRAJECTORY_SCHEMA``."""
    steps = []
    for s in t.steps:
        labels = [
            {
                "name": name,
                "score": lab.score,
                "verdict": lab.verdict,
                "rationale": lab.rationale,
                "cost": None if lab.cost is None else lab.cost.to_dict(),
                "grader": None if lab.grader is None else lab.grader.to_dict(),
                "extra": _json(lab.extra),
            }
            for name, lab in s.labels.items()
        ]
        steps.append(
            {
                "index": s.index,
                "text": s.text,
                "kind": s.kind,
                "observation": s.observation,
                "thought": s.thought,
                "labels": labels,
                "meta": _json(s.meta),
            }
        )
    text_task = isinstance(t.task, str)
    o = t.outcome
    return {
        "schema_version": t.schema_version,
        "id": t.id,
        "task": t.task if text_task else None,
        "task_messages": None if text_task else _dumps(t.task).decode(),
        "steps": steps,
        "outcome": {"answer": o.answer, "correct": o.correct, "reward": o.reward},
        "reference": t.reference,
        "meta": _json(t.meta),
    }


def row_to_dict(row: dict[str, Any]) -> dict[str, Any]:
    """A row of ``TRAJECTORY_SCHEMA`` back in the record's dict form (for ``from_dict``,
    which validates it like any JSONL line)."""
    steps = []
    for s in row.get("steps") or ():
        d: dict[str, Any] = {"index": s["index"], "text": s["text"], "kind": s["kind"]}
        if s["observation"] is not None:
            d["observation"] = s["observation"]
        if s["thought"] is not None:
            d["thought"] = s["thought"]
        if s["labels"]:
            labels = {}
            for lab in s["labels"]:
                ld: dict[str, Any] = {"score": lab["score"], "verdict": lab["verdict"]}
                if lab["rationale"] is not None:
                    ld["rationale"] = lab["rationale"]
                if lab["cost"] is not None:
                    ld["cost"] = lab["cost"]
                if lab["grader"] is not None:
                    ld["grader"] = lab["grader"]
                if lab["extra"] is not None:
                    ld["extra"] = _loads(lab["extra"])
                labels[lab["name"]] = ld
            d["labels"] = labels
        if s["meta"] is not None:
            d["meta"] = _loads(s["meta"])
        steps.append(d)
    task = row.get("task")
    if task is None and row.get("task_messages") is not None:
        task = _loads(row["task_messages"])
    return {
        "schema_version": row.get("schema_version"),
        "id": row.get("id"),
        "task": task,
        "steps": steps if row.get("steps") is not None else None,
        "outcome": row.get("outcome"),
        "reference": row.get("reference"),
        "meta": _loads(row["meta"]) if row.get("meta") is not None else {},
    }
