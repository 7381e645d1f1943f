"""A checkpoint's JSON config: the dataclass a PRM was trained with, written beside its weights
and read back with a clear error for a missing file, bad JSON or a key the class has not."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, ClassVar, Self, cast

from stepsieve._errors import ConfigError

__all__ = ["CheckpointConfig"]


class CheckpointConfig:
    """Base of a checkpoint's config dataclass: ``FILE`` names its file in the checkpoint
    directory, ``KIND`` the checkpoint in errors ("a StepRM": "... is not a StepRM checkpoint")."""

    FILE: ClassVar[str]
    KIND: ClassVar[str]

    def save(self, directory: Path) -> None:
        data = asdict(cast(Any, self))
        (directory / self.FILE).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, directory: Path) -> Self:
        path = directory / cls.FILE
        if not path.is_file():
            raise ConfigError(f"{directory} is not {cls.KIND} checkpoint: no {cls.FILE}")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
        unknown = sorted(set(data) - {f.name for f in fields(cast(Any, cls))})
        if unknown:
            raise ConfigError(f"{path}: unknown keys {unknown}")
        return cast(Self, cast(Any, cls)(**data))
