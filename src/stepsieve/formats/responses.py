"""``responses``: raw model responses, segmented into steps by a named Segmenter.

    {"id": str (optional), "prompt": str, "response": str, ...}

The common shape of freshly sampled outputs. ``response`` is split with the ``segmenter``
option (default ``blank-line``; see ``stepsieve.segment``) into reasoning steps; writing
joins the steps back with the same segmenter. A response not in the segmenter's normal
form (extra spaces around steps, three newlines...) is kept verbatim in
``meta["response"]`` while its steps are unchanged, so the round trip is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from stepsieve._errors import SchemaError
from stepsieve.formats._fields import (
    extra_fields,
    optional,
    put_extra_fields,
    require,
    require_object,
    stable_id,
)
from stepsieve.formats._protocol import RecordFormat
from stepsieve.segment import DEFAULT_SEGMENTER, get_segmenter
from stepsieve.trajectory import Step, Trajectory

__all__ = ["Responses"]

_KNOWN = frozenset({"id", "prompt", "response"})


@dataclass(frozen=True)
class Responses(RecordFormat):
    """``segmenter``: a segmenter spec (``blank-line``, ``single-line``, ``step-marker``,
    ``regex:PATTERN``, ``tag:TAG``)."""

    segmenter: str = DEFAULT_SEGMENTER

    name: ClassVar[str] = "responses"
    description: ClassVar[str] = "raw responses {id, prompt, response}, split into steps by a segmenter"

    def __post_init__(self) -> None:
        object.__setattr__(self, "_seg", get_segmenter(self.segmenter))

    def decode(self, obj: Any) -> Trajectory:
        obj = require_object(obj)
        prompt = require(obj, "prompt", (str, list))
        response = require(obj, "response", str)
        texts = self._seg.split(response)  # type: ignore[attr-defined]
        if not texts:
            raise SchemaError("empty step list: field 'response' has no text")
        meta: dict[str, Any] = {"source": "responses", "segmenter": self.segmenter}
        if self._seg.join(texts) != response:  # type: ignore[attr-defined]
            meta["response"] = response
        extra = extra_fields(obj, _KNOWN)
        if extra:
            meta["extra_fields"] = extra
        tid = optional(obj, "id", (str, int))
        if tid is None:
            meta["id_generated"] = True  # so writing back adds no id the source lacked
        tid = str(tid) if tid is not None else stable_id("response", obj)
        return Trajectory(tid, prompt, [Step(i, t) for i, t in enumerate(texts)], meta=meta)

    def encode(self, t: Trajectory) -> dict[str, Any]:
        texts = [s.text for s in t.steps]
        kept = t.meta.get("response")
        same = kept is not None and t.meta.get("segmenter") == self.segmenter and self._seg.split(kept) == texts  # type: ignore[attr-defined]
        out: dict[str, Any] = {}
        if not t.meta.get("id_generated"):
            out["id"] = t.id
        out["prompt"] = t.task
        out["response"] = kept if same else self._seg.join(texts)  # type: ignore[attr-defined]
        return put_extra_fields(out, t)
