"""Reading curation inputs through the shared trajectory reader, with counts.

Every curation verb reads with ``stepsieve.formats.open_reader`` (error policy
``raise``/``skip``, rejected records quarantined to ``<output>.rejected.jsonl``), so the
counts in a manifest always satisfy ``in == accepted + rejected`` at the reader.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stepsieve._errors import ConfigError
from stepsieve.trajectory import Trajectory

__all__ = ["InputReader"]


class InputReader:
    """Iterate the Trajectories of ``path``; ``read``/``accepted``/``rejected`` count records.

    ``rejects_to`` names the quarantine file used under ``on_error="skip"``.
    """

    def __init__(
        self, path: str | Path, *, on_error: str = "raise", rejects_to: str | Path | None = None
    ) -> None:
        if on_error not in ("raise", "skip"):
            raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        from stepsieve.formats import open_reader

        self.path = str(path)
        self._sink: Any = None
        if on_error == "skip" and rejects_to is not None:
            from stepsieve.trajectory import RejectSink

            self._sink = RejectSink(rejects_to)
        self._reader = open_reader(path, on_error="skip" if on_error == "skip" else "raise", rejects=self._sink)

    def __iter__(self) -> Iterator[Trajectory]:
        if self._reader is None:  # pragma: no cover
            for t in self._iter:
                self._n += 1
                yield t
            return
        try:
            yield from self._reader
        finally:
            if self._sink is not None:
                self._sink.close()

    def reject(self, t: Trajectory, reason: str) -> None:
        """Quarantine a record a later stage could not use (an export whose image is missing):
        written to the rejects file under ``on_error="skip"``; the caller counts it."""
        if self._sink is not None:
            from stepsieve.trajectory import encode_json

            self._sink.write(self.path, None, reason, encode_json(t))

    @property
    def read(self) -> int:
        return self._reader.read if self._reader is not None else self._n

    @property
    def accepted(self) -> int:
        return self._reader.accepted if self._reader is not None else self._n

    @property
    def rejected(self) -> int:
        return self._reader.rejected if self._reader is not None else 0
