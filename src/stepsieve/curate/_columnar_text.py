"""String kernels of the columnar engine: JSON escaping, gathering step ranges, writing lines.

Output rows are assembled from pieces with Arrow's C++ string kernels, never a Python
object per step. Two facts make that exact:

- JSON escaping works character by character, so the escape of a concatenation is the
  concatenation of the escapes: each text is escaped once, and a prompt made of a task
  and ten steps is the concatenation of eleven escaped pieces.
- ``escape`` reproduces orjson's output byte for byte: ``"`` and ``\\`` get a backslash,
  ``\\b \\f \\n \\r \\t`` their short forms, other control characters ``\\u00XX``; nothing
  else is escaped (orjson writes UTF-8, including U+007F and U+2028, as is). The rare
  string with one of the other control characters is escaped by orjson itself.
"""

from __future__ import annotations

from typing import IO

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["cat", "escape", "gather_join", "rows_with_bytes", "write_lines"]

_SHORT = (
    ("\\", "\\\\"),
    ('"', '\\"'),
    ("\n", "\\n"),
    ("\t", "\\t"),
    ("\r", "\\r"),
    ("\b", "\\b"),
    ("\f", "\\f"),
)
_OTHER_CTRL = r"[\x00-\x07\x0b\x0e-\x1f]"


def rows_with_bytes(arr: pa.Array, bad: np.ndarray) -> np.ndarray:
    """Indices of the elements of a string array holding any byte ``b`` with ``bad[b]``.

    One numpy pass over the value buffer (a regex per element costs far more).
    """
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    bufs = arr.buffers()
    off = np.frombuffer(bufs[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
    if bufs[2] is None or off[-1] == off[0]:
        return np.zeros(0, dtype=np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8)[off[0] : off[-1]]
    hit = np.flatnonzero(bad[data])
    if not len(hit):
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.searchsorted(off[1:] - off[0], hit, side="right")).astype(np.int64)


_ESC_BYTES = np.zeros(256, dtype=bool)
_ESC_BYTES[:0x20] = True
_ESC_BYTES[[0x22, 0x5C]] = True


def escape(arr: pa.Array) -> pa.Array:
    """The JSON string body (no quotes) of every element, as orjson writes it; nulls stay null."""
    arr = arr.cast(pa.string()) if not pa.types.is_string(arr.type) else arr
    rows = rows_with_bytes(arr, _ESC_BYTES)
    if not len(rows):
        return arr
    need_np = np.zeros(len(arr), dtype=bool)
    need_np[rows] = True
    need = pa.array(need_np)
    idx = pa.array(rows)
    sub = arr.take(idx)
    other = pc.match_substring_regex(sub, _OTHER_CTRL).fill_null(False)
    for a, b in _SHORT:
        sub = pc.replace_substring(sub, a, b)
    if pc.any(other).as_py():
        oi = pc.indices_nonzero(other).to_numpy()
        vals = sub.to_pylist()
        raw = arr.take(idx).to_pylist()
        for i in oi:
            vals[i] = orjson.dumps(raw[i]).decode()[1:-1]
        sub = pa.array(vals, pa.string())
    # scatter the escaped strings back among the untouched ones
    return pc.replace_with_mask(arr, need, sub)


def cat(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of arrays and constant strings (no separator)."""
    return pc.binary_join_element_wise(*parts, "")


def gather_join(values: pa.Array, starts: np.ndarray, ends: np.ndarray) -> pa.Array:
    """Row i: the concatenation of ``values[starts[i]:ends[i]]`` (ranges may overlap)."""
    lens = (ends - starts).astype(np.int64)
    offsets = np.zeros(len(lens) + 1, dtype=np.int32)
    np.cumsum(lens, out=offsets[1:])
    total = int(offsets[-1])
    if total:
        idx = np.repeat(starts - offsets[:-1], lens) + np.arange(total, dtype=np.int64)
        taken = values.take(pa.array(idx))
    else:
        taken = values.slice(0, 0)
    lists = pa.ListArray.from_arrays(pa.array(offsets), taken)
    return pc.binary_join(lists, "")


def write_lines(fh: IO[bytes], lines: pa.Array) -> None:
    """Write a string array whose elements are whole lines (newline included), in one call."""
    n = len(lines)
    if not n:
        return
    bufs = lines.buffers()
    off = np.frombuffer(bufs[1], dtype=np.int32 if lines.type == pa.string() else np.int64)
    lo, hi = int(off[lines.offset]), int(off[lines.offset + n])
    fh.write(memoryview(bufs[2])[lo:hi])
