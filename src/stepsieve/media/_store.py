"""The content-addressed media folder of one output, and reading images back."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path, PurePosixPath

import msgspec

from stepsieve._errors import DataError
from stepsieve.trajectory import MediaRef

__all__ = ["MEDIA_SUFFIX", "MediaResolver", "MediaStore", "inline_ref", "sniff_image"]

MEDIA_SUFFIX = ".media"

# Magic numbers of the image types agents' screenshots come in.
_EXT = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp"}


def sniff_image(data: bytes) -> str | None:
    """The mime type of image bytes from their first bytes, or None when not an image."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _decode_base64(data: str, what: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise DataError(f"{what}: not valid base64") from None


def _image_bytes(data: bytes, what: str, mime: str | None) -> str:
    """The sniffed mime type of ``data``; raises when it is not an image."""
    found = sniff_image(data)
    if found is None:
        raise DataError(f"{what}: not an image (PNG, JPEG, GIF or WebP), {len(data)} bytes")
    if mime is not None and mime != found and mime in _EXT:
        raise DataError(f"{what}: declared {mime}, but the bytes are {found}")
    return found


def inline_ref(
    data: str | bytes, *, mime: str | None = None, role: str | None = None, what: str = "image"
) -> MediaRef:
    """A reference to an inline image (base64 text or bytes) that has no file yet: its path
    is a ``data:`` URL until a writer moves it into the output's media folder. Raises
    DataError when the data is not base64 or not an image."""
    raw = _decode_base64(data, what) if isinstance(data, str) else bytes(data)
    found = _image_bytes(raw, what, mime)
    return MediaRef(
        path=f"data:{found};base64,{base64.b64encode(raw).decode()}",
        sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
        mime=found,
        role=role,  # type: ignore[arg-type]
    )


class MediaStore:
    """The images of one output file, content-addressed in ``OUT.media/ab/<sha256>.<ext>``.

    ``put`` writes each distinct image once (atomically: a temp file renamed into place),
    and returns the reference a record of ``OUT`` keeps (path relative to OUT's folder).
    """

    def __init__(self, output: str | Path) -> None:
        self.output = Path(output)
        self.root = self.output.with_name(self.output.name + MEDIA_SUFFIX)
        self.prefix = self.root.name

    @classmethod
    def for_output(cls, output: str | Path) -> MediaStore:
        return cls(output)

    def ref_path(self, sha256: str, mime: str) -> str:
        """The path, relative to OUT's folder, of the image with this hash."""
        return f"{self.prefix}/{sha256[:2]}/{sha256}{_EXT.get(mime, '.bin')}"

    def owns(self, ref: MediaRef) -> bool:
        """True when ``ref`` already points into this store."""
        return ref.path == self.ref_path(ref.sha256, ref.mime)

    def put(self, data: bytes, *, role: str | None = None, mime: str | None = None) -> MediaRef:
        """Store image bytes; raises DataError when they are not an image."""
        found = _image_bytes(data, "image", mime)
        sha = hashlib.sha256(data).hexdigest()
        ref = MediaRef(path=self.ref_path(sha, found), sha256=sha, size=len(data), mime=found, role=role)  # type: ignore[arg-type]
        dest = self.output.parent / ref.path
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f"{dest.name}.{os.getpid()}.partial")
            tmp.write_bytes(data)
            os.replace(tmp, dest)
        return ref

    def put_base64(self, data: str, *, role: str | None = None, mime: str | None = None) -> MediaRef:
        return self.put(_decode_base64(data, "image"), role=role, mime=mime)

    def link(self, src: Path, ref: MediaRef) -> MediaRef:
        """Bring an already verified image file into the store (a hard link where the file
        system allows, else a copy); returns the reference in this store."""
        mine = msgspec.structs.replace(ref, path=self.ref_path(ref.sha256, ref.mime))
        dest = self.output.parent / mine.path
        if dest.exists():
            return mine
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f"{dest.name}.{os.getpid()}.partial")
        try:
            os.link(src, tmp)
        except OSError:
            tmp.write_bytes(src.read_bytes())
        os.replace(tmp, dest)
        return mine


class MediaResolver:
    """Reads the images the records of one file reference, checking each one's size and
    sha256 when it is read (lazily: reading records never touches their images).

    Paths are relative to the record file's folder; an absolute path or one that climbs out
    of that folder (``..``) is refused: record files are untrusted input.
    """

    def __init__(self, record_file: str | Path | None) -> None:
        self.record_file = None if record_file is None else str(record_file)
        if record_file is None:
            self.base = Path.cwd()
        else:  # a format that reads a folder (a run directory) resolves inside it
            self.base = Path(record_file) if Path(record_file).is_dir() else Path(record_file).parent

    def locate(self, ref: MediaRef, where: str = "") -> Path:
        """The file of a (non-inline) reference; raises on a path outside the folder."""
        p = PurePosixPath(ref.path.replace("\\", "/"))
        if p.is_absolute() or ".." in p.parts or ":" in ref.path.split("/")[0]:
            raise self._error(f"{where}image path {ref.path!r} must be relative to the record file's folder")
        return self.base / p

    def read(self, ref: MediaRef, where: str = "") -> bytes:
        """The image's bytes; raises DataError naming the image when it is missing, unreadable,
        altered (size or sha256 differ from the record's) or not an image."""
        if ref.path.startswith("data:"):
            head, _, data = ref.path.partition(",")
            raw = _decode_base64(data, f"{where}inline image") if head.endswith(";base64") else data.encode()
        else:
            path = self.locate(ref, where)
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                raise self._error(f"{where}image {ref.path} is missing (looked in {self.base})") from None
            except OSError as e:
                raise self._error(f"{where}image {ref.path} cannot be read: {e.strerror}") from None
        self.check(ref, raw, where)
        return raw

    def check(self, ref: MediaRef, raw: bytes, where: str = "") -> None:
        if len(raw) != ref.size or hashlib.sha256(raw).hexdigest() != ref.sha256:
            raise self._error(
                f"{where}image {_short(ref.path)} was altered: {len(raw)} bytes with sha256 "
                f"{hashlib.sha256(raw).hexdigest()[:12]}…, the record says {ref.size} bytes, {ref.sha256[:12]}…"
            )
        if sniff_image(raw) is None:
            raise self._error(f"{where}image {_short(ref.path)} is not an image")

    def _error(self, reason: str) -> DataError:
        return DataError(reason, path=self.record_file)


def _short(path: str) -> str:
    return path if not path.startswith("data:") or len(path) < 60 else path[:40] + "…"
