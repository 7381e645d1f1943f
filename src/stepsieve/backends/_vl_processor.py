"""A vision-language model's own processor, also where its video half needs torchvision.

``AutoProcessor.from_pretrained`` is the route: it gives the model family's processor (chat
template, image processor, the expansion of each image placeholder into as many tokens as the
image has merged patches). In transformers 5.24 the Qwen2-VL family's processor also builds a
video processor, and that class exists only with torchvision: where torchvision is absent
(it has no wheel beside torch 2.13.0+cpu) ``AutoProcessor`` raises ``ImportError`` even for
image-only use. Then the same processor class is built without its video half, from the
directory's tokenizer and the image processor's PIL backend (``Qwen2VLImageProcessorPil``:
the slow, numpy/PIL one, what ``use_fast=False`` used to select), its class check told that a
missing video processor is fine, so its own ``__call__`` still expands the image tokens:
nothing of the processor is re-implemented here.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

from stepsieve._errors import ConfigError

__all__ = ["load_vl_processor"]

_PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")


def load_vl_processor(path: str | Path) -> Any:
    """The processor of the model directory (or hub name) ``path``, with an image processor."""
    from transformers import AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(str(path))
    except ImportError as e:
        if "orchvision" not in str(e) and "backend is not available" not in str(e):
            raise
        processor = _without_video(Path(path), e)
    if getattr(processor, "image_processor", None) is None:
        raise ConfigError(f"{path}: its processor ({type(processor).__name__}) has no image processor: "
                          "not a vision-language model directory")
    return processor


def _processor_class_name(d: Path) -> str | None:
    for name in _PROCESSOR_FILES:
        f = d / name
        if f.is_file():
            try:
                cls = json.loads(f.read_text()).get("processor_class")
            except json.JSONDecodeError as e:
                raise ConfigError(f"{f}: line {e.lineno}: not valid JSON ({e.msg})") from e
            if cls:
                return str(cls)
    return None


def _chat_template(d: Path, tokenizer: Any) -> str | None:
    if (d / "chat_template.jinja").is_file():
        return (d / "chat_template.jinja").read_text()
    if (d / "chat_template.json").is_file():
        return json.loads((d / "chat_template.json").read_text()).get("chat_template")
    return getattr(tokenizer, "chat_template", None)


def _without_video(d: Path, error: ImportError) -> Any:
    """The directory's processor class without its video processor (see the module doc)."""
    import transformers
    from transformers import AutoImageProcessor, AutoTokenizer

    name = _processor_class_name(d) if d.is_dir() else None
    cls = getattr(transformers, name, None) if name else None
    if cls is None or "video_processor" not in inspect.signature(cls.__init__).parameters:
        raise ConfigError(f"{d}: AutoProcessor needs torchvision here ({error}), and the processor class "
                          f"{name!r} cannot be built without its video processor: install torchvision") from error
    base = cls

    def check_argument_for_proper_class(self: Any, argument_name: str, argument: Any) -> Any:
        # the one check that needs the torchvision-only video processor class: no video part
        if argument_name == "video_processor" and argument is None:
            return None
        return base.check_argument_for_proper_class(self, argument_name, argument)

    images_only = type(base.__name__, (base,), {"check_argument_for_proper_class": check_argument_for_proper_class,
                                                "__module__": __name__})
    tokenizer = AutoTokenizer.from_pretrained(str(d))
    image_processor = AutoImageProcessor.from_pretrained(str(d), backend="pil")
    return images_only(image_processor=image_processor, tokenizer=tokenizer, video_processor=None,
                       chat_template=_chat_template(d, tokenizer))
