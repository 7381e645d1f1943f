"""Images of agent steps, stored beside the records that reference them.

A record never inlines an image: a step's ``images`` are ``MediaRef``s (path, sha256, size,
mime, role) whose path is relative to the folder of the record file. A stepsieve output
``OUT`` keeps its images content-addressed in ``OUT.media/ab/abcd….png``, so an output folder
is self-contained and an image shared by many steps is stored once.

- ``MediaStore(out)`` puts image bytes (or a base64 / ``data:`` URL) into ``OUT.media``;
- ``MediaResolver(record_file)`` reads a record's images back, checking size and hash;
- ``MediaCarrier(source, out)`` moves the images a record references into ``OUT.media``
  (hard link where it can, copy otherwise) and rewrites the references: every writer of
  canonical records uses it, so ``convert``, ``grade``, ``curate`` outputs carry their media;
- ``encode_for_model(raw, max_side=, max_bytes=)`` makes the downscaled ``data:`` URL a
  multimodal request carries (built at request time, never stored).
"""

from stepsieve.media._carry import MediaCarrier
from stepsieve.media._encode import ModelImage, encode_for_model, image_size, image_token_estimate
from stepsieve.media._store import (
    MEDIA_SUFFIX,
    MediaResolver,
    MediaStore,
    inline_ref,
    sniff_image,
)

__all__ = [
    "MEDIA_SUFFIX",
    "MediaCarrier",
    "MediaResolver",
    "MediaStore",
    "ModelImage",
    "encode_for_model",
    "image_size",
    "image_token_estimate",
    "inline_ref",
    "sniff_image",
]
