"""The report's figures: matplotlib (Agg, no display) rendered to base64 PNG for inlining."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

__all__ = ["accuracy_vs_n_plot", "calibration_plot", "f1_cost_plot", "first_error_plot", "loss_plot"]


def _figure(w: float = 6.0, h: float = 3.4, ncols: int = 1) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, ncols, figsize=(w, h), dpi=100)
    return fig, ax


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def first_error_plot(first_errors: dict[str, list[int | None]]) -> str:
    """Grouped bars: how many trajectories each label puts the first error at each step
    ("none" = no error found; undecided trajectories are left out)."""
    fig, ax = _figure()
    top = max((x for fe in first_errors.values() for x in fe if x is not None), default=0)
    positions = list(range(-1, top + 1))
    width = 0.8 / max(1, len(first_errors))
    for i, (label, fe) in enumerate(first_errors.items()):
        counts = [sum(1 for x in fe if x == p) for p in positions]
        ax.bar([p + 1 + i * width for p in positions], counts, width, label=label)
    ax.set_xticks([p + 1 + 0.4 - width / 2 for p in positions])
    ax.set_xticklabels(["none"] + [str(p) for p in positions[1:]])
    ax.set_xlabel("first wrong step (0-based)")
    ax.set_ylabel("trajectories")
    ax.legend()
    return _png(fig)


def f1_cost_plot(names: Sequence[str], f1: Sequence[float], tokens: Sequence[float]) -> str:
    """F1 against truth (bars, left) and model tokens per trajectory (log scale, right)."""
    fig, (a, b) = _figure(8.0, 3.2, ncols=2)
    bars = a.bar(names, f1, color="tab:blue")
    a.bar_label(bars, labels=[f"{v:.2f}" for v in f1])
    a.set_ylim(0, 1.1)
    a.set_ylabel("first-error F1 vs truth")
    # Log scale: model-free graders cost ~0 and MC costs thousands of tokens; 1 is the floor.
    bars = b.bar(names, [max(t, 1.0) for t in tokens], color="tab:orange")
    b.bar_label(bars, labels=[f"{t:,.0f}" for t in tokens])
    b.set_yscale("log")
    b.set_ylim(bottom=1.0)
    b.set_ylabel("model tokens per trajectory")
    return _png(fig)


def calibration_plot(curves: dict[str, list[dict[str, float]]]) -> str:
    """Reliability diagram: accuracy (truth) against mean predicted P(correct) per bin."""
    fig, ax = _figure(4.6, 4.0)
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect")
    for label, bins in curves.items():
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-", label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted P(step correct)")
    ax.set_ylabel("share truly correct")
    ax.legend()
    return _png(fig)


def accuracy_vs_n_plot(curves: dict[str, dict[str, float]], marks: dict[str, tuple[float, float]]) -> str:
    """Accuracy against N (log2 axis) per selection method; step searches as points placed
    at the N whose best-of-N spends the same generated tokens."""
    fig, ax = _figure(6.4, 3.8)
    for name, c in curves.items():
        ns = sorted(c, key=int)
        ax.plot([int(n) for n in ns], [c[n] for n in ns], "o-" if name != "oracle" else ":", label=name)
    for name, (x, y) in marks.items():
        ax.plot([x], [y], "*", markersize=12, label=name)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("N (samples per task)")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7, ncol=2)
    return _png(fig)


def loss_plot(curve: Sequence[Sequence[float]]) -> str:
    """StepRM training loss by optimiser step."""
    fig, ax = _figure(5.0, 3.0)
    ax.plot([p[0] for p in curve], [p[1] for p in curve])
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("BCE loss")
    return _png(fig)
