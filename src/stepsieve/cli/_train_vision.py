"""The vision path of ``stepsieve train-prm`` (``--arch vision``, or ``auto`` on records with screenshots).

Kept apart from ``_train_prm`` so each architecture's options stay in one place; the verb
calls :func:`wants_vision` and, when it says so, :func:`train_vision`.
"""

from __future__ import annotations

from pathlib import Path

import typer

ARCHES = ("auto", "text", "vision")


def wants_vision(arch: str, data: Path, base: str | None = None) -> bool:
    """``vision`` for ``--arch vision``; for ``auto``, whether the first record's steps carry
    images and no ``--base`` is given (a base decides itself: a causal LM, or a vision-language
    model that sees the screenshots)."""
    if arch not in ARCHES:
        raise typer.BadParameter(f"--arch must be one of {', '.join(ARCHES)}, got {arch!r}")
    if arch != "auto":
        return arch == "vision"
    if base:
        return False
    from stepsieve.formats import read_trajectories

    for t in read_trajectories(data):
        return any(s.images for s in t.steps)
    return False


def train_vision(
    data: Path, out: Path, label: str | None, targets: str, epochs: int | None, batch_size: int,
    lr: float | None, dev_fraction: float, error_weight: float, seed: int, device: str | None,
) -> None:
    """Train a vision StepRM on ``label`` of ``data`` (screenshots resolved beside it) into ``out``."""
    from stepsieve.cli._train_prm import _echo_summary
    from stepsieve.formats import read_trajectories
    from stepsieve.prm.vision import TARGETS, VisionTrainOptions, train_vision_prm

    if targets not in TARGETS:
        raise typer.BadParameter(f"--targets must be one of {', '.join(TARGETS)}, got {targets!r}")
    options = VisionTrainOptions(epochs=epochs or 12, batch_size=batch_size, lr=lr or 2e-3,
                                 dev_fraction=dev_fraction, error_weight=error_weight, seed=seed)
    model = train_vision_prm(read_trajectories(data), out=out, source=data, label=label or "mc", targets=targets,
                             options=options, device=device, progress=True)
    _echo_summary(model.config.training, out, ("dev_loss", "threshold", "dev_f1_vs_label", "seconds"))
