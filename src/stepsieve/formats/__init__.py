"""Format adapters: foreign step-labelled layouts <-> the canonical Trajectory, and the
streaming readers and writers that bind a format to a file (``open_reader``,
``open_writer``, ``convert``).

One module per format behind the small ``Format`` protocol, registered by name in
``FORMATS``. Ground-truth labels a dataset carries are imported under the label name
``truth`` (``TRUTH``). docs/formats.md describes every field mapping.
"""

from pathlib import Path

from stepsieve.formats._fields import TRUTH
from stepsieve.formats._io import (
    ConvertStats,
    OnError,
    Reader,
    Writer,
    convert,
    open_reader,
    open_writer,
    read_trajectories,
    write_trajectories,
)
from stepsieve.formats._protocol import BytesCodec, Format, RecordFormat
from stepsieve.formats._registry import FORMATS, format_options, get_format

# Small real samples shipped with the package (see samples/README.md for attribution).
SAMPLES = Path(__file__).parent / "samples"

__all__ = [
    "FORMATS",
    "SAMPLES",
    "TRUTH",
    "BytesCodec",
    "ConvertStats",
    "Format",
    "OnError",
    "Reader",
    "RecordFormat",
    "Writer",
    "convert",
    "format_options",
    "get_format",
    "open_reader",
    "open_writer",
    "read_trajectories",
    "write_trajectories",
]
