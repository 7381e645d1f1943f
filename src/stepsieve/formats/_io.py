"""Streaming readers and writers of Trajectory files, in any registered format.

A Reader or Writer binds a format (``stepsieve.formats``) to a container (JSONL, JSON
array, Parquet: ``stepsieve.trajectory``'s sources and sinks), which is why they live here,
above both: the record package knows no format.

Every verb (convert, grade, curate, export...) reads through ``open_reader`` and writes
through ``open_writer``, so they all share one error policy:

- ``on_error="raise"`` (default): the first bad record raises DataError/SchemaError naming
  file, line and what is wrong;
- ``on_error="skip"``: bad records go, unchanged, to a ``RejectSink`` and are counted.

A reader counts ``read`` (records in the file), ``accepted`` and ``rejected``; with a writer
fed from it, ``read == written + rejected`` always holds (``convert`` checks it). Files are
never loaded whole: JSONL streams by line, Parquet by batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from stepsieve._errors import ConfigError, DataError
from stepsieve.formats._files import FileFormat, path_size
from stepsieve.formats._protocol import BytesCodec, Format
from stepsieve.formats._registry import FORMATS, get_format
from stepsieve.media import MediaCarrier
from stepsieve.trajectory import (
    RejectSink,
    Sink,
    SourceRecord,
    Trajectory,
    container_of,
    iter_source,
    open_sink,
    rejects_path,
    source_size,
)

__all__ = [
    "ConvertStats",
    "OnError",
    "Reader",
    "Writer",
    "convert",
    "open_reader",
    "open_writer",
    "read_trajectories",
    "write_trajectories",
]

OnError = Literal["raise", "skip"]


def _resolve_format(fmt: str | Format, options: dict[str, Any] | None) -> Format:
    if isinstance(fmt, str):
        return get_format(fmt, **(options or {}))
    if options:
        raise ConfigError("format options are given with a format name, not a Format instance")
    return fmt


class Reader:
    """Iterates the Trajectories of one file, applying the error policy and counting."""

    def __init__(
        self,
        path: str | Path,
        fmt: str | Format = "stepsieve",
        *,
        on_error: OnError = "raise",
        rejects: RejectSink | None = None,
        container: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        if on_error not in ("raise", "skip"):
            raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.path = str(path)
        self.format = _resolve_format(fmt, options)
        # A FileFormat splits its files into records itself (a session file, a folder of events).
        self._file_format = isinstance(self.format, FileFormat) and container is None
        self.container = container or ("file" if self._file_format else container_of(path))
        self.on_error = on_error
        self.rejects = rejects
        self.read = 0
        self.accepted = 0
        self.rejected = 0
        self.last: SourceRecord | None = None  # the record behind the last yielded Trajectory
        self._hint: str | None = None
        self._progress = [0]

    @property
    def position(self) -> int:
        """Bytes (or Parquet rows) consumed so far; ``size()`` is the total."""
        return self._progress[0]

    def size(self) -> int:
        if self._file_format:
            return path_size(self.path)
        return source_size(self.path, self.container)

    def reject(self, rec: SourceRecord, reason: str) -> None:
        """Quarantine a record this reader already yielded (e.g. one the target format of a
        conversion cannot express): raises under ``on_error="raise"``."""
        if self.on_error == "raise":
            raise DataError(reason, path=self.path, line=rec.line)
        self.accepted -= 1
        self._skip(rec, reason)

    def __iter__(self) -> Iterator[Trajectory]:
        decode = self.format.decode_row if self.container == "parquet" else self.format.decode
        path = self.path
        raising = self.on_error == "raise"
        batch_rows = self.format.batch_rows if self.container == "parquet" else None
        fmt = self.format
        fast = fmt.decode_bytes if self.container != "parquet" and isinstance(fmt, BytesCodec) else None
        if self._file_format:
            source = self.format.iter_records(path, self._progress)  # type: ignore[attr-defined]
        else:
            source = iter_source(path, self.container, self._progress, batch_rows, fast)
        for rec in source:
            self.read += 1
            t = rec.record
            if t is not None:  # decoded straight from its bytes (BytesCodec)
                self.accepted += 1
                self.last = rec
                yield t
                continue
            if rec.error is not None:
                if raising:
                    raise DataError(rec.where() + rec.error, path=path, line=rec.line)
                self._skip(rec, rec.where() + rec.error)
                continue
            try:
                t = decode(rec.value)
            except DataError as e:
                reason = rec.where() + e.reason + self._layout_hint(e, rec.value)
                line = e.line if e.line is not None else rec.line  # a multi-line record names its line
                if raising:
                    raise type(e)(
                        reason, path=path, line=line, trajectory=e.trajectory, step=e.step
                    ) from None
                self._skip(rec, reason if e.line is None else f"line {e.line}: {reason}")
                continue
            self.accepted += 1
            self.last = rec
            yield t

    def _layout_hint(self, e: DataError, value: Any) -> str:
        """For a record the canonical format cannot read: which registered formats do read it
        (asked once per reader, on its first bad record; nothing when none does)."""
        if self.format.name != "stepsieve" or not isinstance(value, dict):
            return ""
        if self._hint is None:
            fits = []
            for name in FORMATS:
                if name == "stepsieve":
                    continue
                try:
                    get_format(name).decode(value)
                except Exception:  # noqa: BLE001 - any failure of a format's decoder means "not this layout"
                    continue
                fits.append(name)
            self._hint = f"; it reads as --from {' or --from '.join(fits)}" if fits else ""
        return self._hint

    def _skip(self, rec: SourceRecord, reason: str) -> None:
        self.rejected += 1
        if self.rejects is not None:
            self.rejects.write(self.path, rec.line, reason, rec.raw)


class Writer:
    """Writes Trajectories in one format; ``written`` counts them. Use as a context manager:
    the file appears at ``path`` only when the block ends without an exception.

    A format that references step images (the canonical one) gets them carried into
    ``<path>.media`` (``stepsieve.media.MediaCarrier``): ``media_from`` is the file the
    records were read from, whose folder their image paths are relative to (None: the
    output's own folder). Writing a record whose image is missing or altered raises
    DataError. A format with no place for images counts them in ``images_left_out``.
    """

    def __init__(
        self,
        path: str | Path,
        fmt: str | Format = "stepsieve",
        *,
        container: str | None = None,
        options: dict[str, Any] | None = None,
        batch_size: int = 1024,
        media_from: str | Path | None = None,
    ) -> None:
        self.path = str(path)
        self.format = _resolve_format(fmt, options)
        self.media: MediaCarrier | None = (
            MediaCarrier(media_from, path) if getattr(self.format, "carries_media", False) else None
        )
        self.images_left_out = 0
        self.container = container or _container_for_output(path)
        parquet = self.container == "parquet"
        schema = self.format.arrow_schema if parquet else None
        to_batch = self.format.rows_to_batch if parquet else None
        self._sink: Sink = open_sink(path, self.container, schema, batch_size, to_batch)
        sink, fmt = self._sink, self.format
        self._write: Callable[[Trajectory], None]
        if parquet:
            self._write = lambda t: sink.write(fmt.encode_row(t))
        elif isinstance(fmt, BytesCodec):
            codec: BytesCodec = fmt
            self._write = lambda t: sink.write_raw(codec.encode_bytes(t))
        else:
            self._write = lambda t: sink.write(fmt.encode(t))
        self.written = 0

    def write(self, t: Trajectory) -> None:
        """Encode and write one record (raises DataError when the format cannot express it,
        or when an image it references is missing or altered; OutputError when the disk is full)."""
        if self.media is not None:
            t = self.media.carry(t)
        elif any(s.images for s in t.steps):
            self.images_left_out += sum(len(s.images) for s in t.steps)
        try:
            self._write(t)
        except OSError as e:
            raise self._sink.failed(e) from None
        self.written += 1

    def close(self, ok: bool = True) -> None:
        self._sink.close(ok)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(ok=exc_type is None)


def _container_for_output(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == ".json":
        return "json"
    return "jsonl"


def open_reader(
    path: str | Path,
    fmt: str | Format = "stepsieve",
    *,
    on_error: OnError = "raise",
    rejects: RejectSink | None = None,
    container: str | None = None,
    **options: Any,
) -> Reader:
    """A counting, error-policy-applying iterator of the Trajectories in ``path``.

    ``fmt`` is a registered format name (see ``stepsieve.formats.FORMATS``) whose options
    are passed as keyword arguments, or a Format instance. The container (jsonl, json
    array, parquet) comes from the file suffix unless ``container`` is given.
    """
    return Reader(path, fmt, on_error=on_error, rejects=rejects, container=container, options=options)


def open_writer(
    path: str | Path,
    fmt: str | Format = "stepsieve",
    *,
    container: str | None = None,
    media_from: str | Path | None = None,
    **options: Any,
) -> Writer:
    """A Writer for ``path`` in ``fmt`` (container from the suffix: .jsonl, .json, .parquet);
    ``media_from`` is the input file whose folder the records' image paths are relative to."""
    return Writer(path, fmt, container=container, options=options, media_from=media_from)


def read_trajectories(path: str | Path, fmt: str | Format = "stepsieve", **options: Any) -> Iterator[Trajectory]:
    """Yield the Trajectories of a file one at a time; the first bad record raises."""
    yield from open_reader(path, fmt, **options)


def write_trajectories(
    trajectories: Iterable[Trajectory], path: str | Path, fmt: str | Format = "stepsieve", **options: Any
) -> int:
    """Write records to ``path`` (canonical JSONL or Parquet by suffix); returns how many."""
    with open_writer(path, fmt, **options) as w:
        for t in trajectories:
            w.write(t)
    return w.written


@dataclass(frozen=True, slots=True)
class ConvertStats:
    """What a conversion did; ``read == written + rejected`` always. ``images`` counts the
    distinct images carried into the output's media folder; ``images_left_out`` those the
    target format has no place for."""

    read: int
    written: int
    rejected: int
    images: int = 0
    images_left_out: int = 0

    def __str__(self) -> str:
        text = f"{self.read} read, {self.written} written, {self.rejected} rejected"
        if self.images:
            text += f", {self.images} images carried"
        if self.images_left_out:
            text += f", {self.images_left_out} step images not written (the format has no place for images)"
        return text


def convert(
    src: str | Path,
    dst: str | Path,
    *,
    src_format: str | Format = "stepsieve",
    dst_format: str | Format = "stepsieve",
    on_error: OnError = "raise",
    rejects: str | Path | None = None,
    src_options: dict[str, Any] | None = None,
    dst_options: dict[str, Any] | None = None,
    on_record: Any = None,
) -> ConvertStats:
    """Stream ``src`` into ``dst``, format to format.

    With ``on_error="skip"``, unreadable input records and records the target format cannot
    express both go to ``rejects`` (default ``<dst>.rejected.jsonl``). ``on_record(reader)``
    is called after each record (progress bars).
    """
    sink = RejectSink(rejects if rejects is not None else rejects_path(dst)) if on_error == "skip" else None
    reader = Reader(src, src_format, on_error=on_error, rejects=sink, options=src_options)
    try:
        with Writer(dst, dst_format, options=dst_options, media_from=src) as writer:
            for t in reader:
                try:
                    writer.write(t)
                except DataError as e:
                    assert reader.last is not None
                    reader.reject(reader.last, f"cannot write as {writer.format.name}: {e.reason}")
                if on_record is not None:
                    on_record(reader)
    finally:
        if sink is not None:
            sink.close()
    carried = writer.media.carried if writer.media is not None else 0
    stats = ConvertStats(reader.read, writer.written, reader.rejected, carried, writer.images_left_out)
    if stats.read != stats.written + stats.rejected:  # pragma: no cover - an invariant, not a branch
        raise AssertionError(f"conversion lost records: {stats}")
    return stats
