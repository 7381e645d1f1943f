"""Step-level filtering for SFT: per-step examples, truncation, partial masking.

Three ways to turn graded trajectories into supervised data (``CurateOptions.mode``):

- ``steps`` (WebSTAR): every step judged good becomes its own example — the task and all
  earlier steps (actions with their observations) as context with weight 0, the step
  itself with weight 1. Suited to agents, where a bad action earlier in an episode does
  not make a later good action less worth learning.
- ``truncate``: the trajectory up to (not including) its first error, every kept step
  trainable.
- ``mask`` (partial masking, STeP): the whole trajectory kept, each step with a loss
  weight: 1 for good steps, ``error_weight`` (default 0) for the erroneous one, and steps
  after the first error per ``after_error``.

Output trajectories carry the weight of each step as a label named ``weight_label``
(default ``curate``: ``score`` is the weight, ``extra = {"kind": "weight"}``); exports read
it (OpenAI's per-message ``weight``). Inputs are consumed, not copied, in ``truncate`` and
``mask`` modes: the pipeline streams, and a copy per trajectory would double its cost.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import msgspec

from stepsieve._errors import ConfigError
from stepsieve.curate._grading import Grading
from stepsieve.graders._protocol import grader_ref
from stepsieve.trajectory import Label, Step, Trajectory

__all__ = ["CurateOptions", "CurateStats", "curate", "step_status", "weights_of"]

Mode = Literal["steps", "truncate", "mask"]
Policy = Literal["keep", "mask", "error"]
AfterError = Literal["drop", "mask", "grade"]

_DEFAULT_AFTER: dict[str, str] = {"steps": "grade", "truncate": "drop", "mask": "mask"}


@dataclass(frozen=True, slots=True)
class CurateOptions:
    """How steps become training targets.

    neutral / unscored: what a neutral step, or a step without a usable label, is:
      ``keep`` (a training target), ``mask`` (context only, weight 0) or ``error``
      (treated as an incorrect step, so it can be the first error).
    after_error: steps after the first error are ``drop``-ped, ``mask``-ed (kept as
      context, weight 0) or ``grade``-d on their own verdicts. None picks the mode's
      default: steps→grade, truncate→drop, mask→mask. ``truncate`` only allows ``drop``.
    error_weight: loss weight of the first erroneous step itself in ``mask`` mode.
    min_steps: a truncated trajectory with fewer kept steps is rejected.
    """

    mode: Mode = "mask"
    neutral: Policy = "keep"
    unscored: Policy = "mask"
    after_error: AfterError | None = None
    error_weight: float = 0.0
    min_steps: int = 1
    weight_label: str = "curate"

    def __post_init__(self) -> None:
        if self.mode not in _DEFAULT_AFTER:
            raise ConfigError(f"mode must be steps, truncate or mask, got {self.mode!r}")
        for name in ("neutral", "unscored"):
            if getattr(self, name) not in ("keep", "mask", "error"):
                raise ConfigError(f"{name} must be keep, mask or error, got {getattr(self, name)!r}")
        if self.after_error not in (None, "drop", "mask", "grade"):
            raise ConfigError(f"after_error must be drop, mask or grade, got {self.after_error!r}")
        if self.mode == "truncate" and self.after_error not in (None, "drop"):
            raise ConfigError("mode truncate drops the steps after the first error; use mode mask instead")
        if not 0.0 <= self.error_weight <= 1.0:
            raise ConfigError(f"error_weight must lie in [0, 1], got {self.error_weight}")
        if self.min_steps < 1:
            raise ConfigError(f"min_steps must be at least 1, got {self.min_steps}")

    @property
    def resolved_after_error(self) -> str:
        return self.after_error or _DEFAULT_AFTER[self.mode]


@dataclass(slots=True)
class CurateStats:
    """Trajectories in, trajectories that produced output, rejected ones by reason, rows out."""

    seen: int = 0
    kept: int = 0
    rows: int = 0
    rejected: dict[str, int] | None = None

    def reject(self, reason: str) -> None:
        if self.rejected is None:
            self.rejected = {}
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    @property
    def n_rejected(self) -> int:
        return sum((self.rejected or {}).values())


def step_status(t: Trajectory, grading: Grading, opts: CurateOptions) -> list[str]:
    """Per step: ``good`` (a target), ``ctx`` (context only) or ``bad`` (an error)."""
    status = _status_table(opts)
    return [status[v] for v in grading.verdicts(t)]


_POLICY = {"keep": "good", "mask": "ctx", "error": "bad"}


def _status_table(opts: CurateOptions) -> dict[str | None, str]:
    """Verdict -> status under ``opts`` (neutral and unscored per its policies)."""
    return {
        "correct": "good",
        "incorrect": "bad",
        "neutral": _POLICY[opts.neutral],
        None: _POLICY[opts.unscored],
    }


def curate(
    trajectories: Iterator[Trajectory] | list[Trajectory],
    grading: Grading,
    opts: CurateOptions | None = None,
    stats: CurateStats | None = None,
) -> Iterator[Trajectory]:
    """Yield curated trajectories (see the module docstring); ``stats`` counts what happened."""
    opts = opts or CurateOptions()
    st = stats if stats is not None else CurateStats()
    after = opts.resolved_after_error
    wl = opts.weight_label
    # Weights take three values only, so three shared Label objects serve every step (and
    # every call with the same options: a streaming job curates one task group at a time).
    zero, one, err = _weight_labels(grading, opts)
    table = _status_table(opts)
    verdicts = grading.verdicts
    mode = opts.mode
    grade_after = after == "grade"
    trainable_error = opts.error_weight > 0
    min_steps = opts.min_steps

    for t in trajectories:
        st.seen += 1
        status = [table[v] for v in verdicts(t)]
        n = len(status)
        first_bad = status.index("bad") if "bad" in status else n
        if mode == "steps":
            k = 0
            for i, s in enumerate(status):
                if s != "good" or (i > first_bad and after != "grade"):
                    continue
                steps = [_copy(x, wl, zero) for x in t.steps[:i]]
                steps.append(_copy(t.steps[i], wl, one))
                meta = {**t.meta, "source_id": t.id, "target_step": i}
                k += 1
                st.rows += 1
                yield Trajectory(f"{t.id}/{i}", t.task, steps, t.outcome, t.reference, meta)
            if k:
                st.kept += 1
            else:
                st.reject("no_good_step")
            continue
        # truncate / mask: one output per trajectory, weight labels set in place. Kept: the
        # steps before the first error, then (mask) the error, then (unless dropped) the rest.
        end = n if after != "drop" else first_bad + 1 if mode == "mask" and first_bad < n else first_bad
        good_before = "good" in status[:first_bad]
        if end < min_steps or not (
            good_before
            or (
                first_bad < end
                and (trainable_error or (grade_after and "good" in status[first_bad + 1 : end]))
            )
        ):
            st.reject("error_at_first_step" if first_bad == 0 else "no_trainable_step")
            continue
        steps = t.steps
        if end < len(steps):
            steps = t.steps = steps[:end]
        for x, step in zip(status[: min(first_bad, end)], steps, strict=False):
            step.labels[wl] = one if x == "good" else zero
        if first_bad < end:
            steps[first_bad].labels[wl] = err
            for x, step in zip(status[first_bad + 1 : end], steps[first_bad + 1 :], strict=False):
                step.labels[wl] = one if grade_after and x == "good" else zero
        st.kept += 1
        st.rows += 1
        yield t


@functools.lru_cache(maxsize=64)
def _weight_labels(grading: Grading, opts: CurateOptions) -> tuple[Label, Label, Label]:
    """The labels of weight 0, 1 and ``error_weight`` written under these options."""
    ref = grader_ref("curate", {"grading": [grading.label, grading.threshold], **_opts_dict(opts)})
    w = {x: Label(x, None, grader=ref, extra={"kind": "weight"}) for x in (0.0, 1.0, opts.error_weight)}
    return w[0.0], w[1.0], w[opts.error_weight]


def _copy(s: Step, wl: str, label: Label) -> Step:
    labels = dict(s.labels)
    labels[wl] = label
    return msgspec.structs.replace(s, labels=labels)  # every field kept: actions, images, meta...


def _opts_dict(opts: CurateOptions) -> dict[str, object]:
    return {f: getattr(opts, f) for f in opts.__dataclass_fields__}


def weights_of(t: Trajectory, weight_label: str = "curate") -> list[float]:
    """Per-step loss weights of a curated trajectory (1.0 where the weight label is absent)."""
    out = []
    for s in t.steps:
        lab = s.labels.get(weight_label)
        out.append(1.0 if lab is None or lab.score is None else lab.score)
    return out
