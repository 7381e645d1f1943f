"""Moving the images records reference into an output's media folder."""

from __future__ import annotations

from pathlib import Path

import msgspec

from stepsieve._errors import DataError
from stepsieve.media._store import MediaResolver, MediaStore
from stepsieve.trajectory import MediaRef, Step, Trajectory

__all__ = ["MediaCarrier"]


class MediaCarrier:
    """Makes a record written to ``output`` self-contained: each image it references is
    checked (size, sha256, is an image), brought into ``OUT.media`` and referenced there.

    ``source`` is the file the records were read from (their relative image paths resolve
    against its folder); None means the output's own folder. Inline images (``data:`` URLs
    left by importers) are decoded and stored. A record without images passes unchanged and
    costs one scan of its steps. ``carried`` counts distinct images (by content) brought in.
    """

    def __init__(self, source: str | Path | None, output: str | Path) -> None:
        self.store = MediaStore(output)
        self.resolver = MediaResolver(source if source is not None else output)
        self._done: dict[tuple[str, str], MediaRef] = {}
        self._hashes: set[str] = set()

    def carry(self, t: Trajectory) -> Trajectory:
        """``t`` with every image in this output's store; raises DataError (trajectory id,
        step index, image) when one is missing, altered or not an image."""
        if not any(s.images for s in t.steps):
            return t
        steps = [self._carry_step(t, s) if s.images else s for s in t.steps]
        return msgspec.structs.replace(t, steps=steps)

    def _carry_step(self, t: Trajectory, s: Step) -> Step:
        images = []
        for k, ref in enumerate(s.images):
            if self.store.owns(ref) and self.resolver.base == self.store.output.parent:
                images.append(ref)  # written into this very store (a sampler's own output)
                continue
            key = (ref.path, ref.sha256)
            done = self._done.get(key)
            if done is None:
                done = self._bring(t, s, k, ref)
                self._done[key] = done
                self._hashes.add(done.sha256)
            images.append(done if done.role == ref.role else msgspec.structs.replace(done, role=ref.role))
        return msgspec.structs.replace(s, images=images)

    @property
    def carried(self) -> int:
        return len(self._hashes)

    def _bring(self, t: Trajectory, s: Step, k: int, ref: MediaRef) -> MediaRef:
        where = f"trajectory {t.id!r} step {s.index} image {k}: "
        try:
            if ref.path.startswith("data:"):
                return self.store.put(self.resolver.read(ref, where), role=ref.role, mime=ref.mime)
            path = self.resolver.locate(ref, where)
            self.resolver.read(ref, where)  # size, hash and type checked before it is adopted
            return self.store.link(path, ref)
        except DataError as e:
            raise DataError(e.reason, path=e.path, trajectory=t.id, step=s.index) from None
