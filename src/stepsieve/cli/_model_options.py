"""Options shared by every command that uses a model, and the one helper that builds a backend.

A verb takes them as one option group (``stepsieve.cli._option_groups``), :data:`MODEL_OPTIONS`
(``.without(...)`` the ones it has no use for), which gives it a validated :class:`ModelOptions`;
it calls :func:`backend_from_options` and, after its job, :func:`report_backend` (which prints
the estimate on ``--dry-run``, the run summary otherwise)::

    @app.command()
    @with_option_groups
    def grade(..., model_options: Built[ModelOptions] = MODEL_OPTIONS):
        opts = model_options()
        be = backend_from_options(opts)
        ...
        report_backend(be)

The type aliases (``BackendOpt``...) declare each option for a command that wants it alone.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from stepsieve._errors import ConfigError
from stepsieve.backends import BACKENDS, Budget, RequestCache
from stepsieve.cli._option_groups import OptionGroup

__all__ = [
    "MODEL_OPTIONS",
    "ApiKeyFileOpt",
    "BackendOpt",
    "BaseUrlOpt",
    "ConcurrencyOpt",
    "DryRunOpt",
    "MaxCostOpt",
    "ModelOpt",
    "ModelOptions",
    "NoCacheOpt",
    "TimeoutOpt",
    "backend_from_options",
    "report_backend",
]

BackendOpt = Annotated[
    str,
    typer.Option(
        "--backend", help="Model backend: transformers (in process), openai (any OpenAI-compatible server) "
        "or gui-policy (the gui world's embedded policy)."
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="transformers: a model directory (default: the embedded policy); openai: the served model name.",
    ),
]
BaseUrlOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--base-url",
        help="openai: server URL, e.g. http://127.0.0.1:8000/v1 (API key from $OPENAI_API_KEY). Repeat it for "
        "replicas of one model: requests go to the one with the fewest outstanding, a failing one is backed off.",
    ),
]
ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", min=1, help="openai: requests in flight at once.")]
MaxCostOpt = Annotated[
    str | None,
    typer.Option(
        "--max-cost",
        help="Stop before exceeding a budget: 'tokens=200000', 'requests=500' or both, comma-separated.",
    ),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print how many calls and tokens the job would take; spend nothing.")
]
TimeoutOpt = Annotated[
    float,
    typer.Option("--timeout", min=0.001, help="openai: seconds one request may take before it is retried."),
]
ApiKeyFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--api-key-file",
        help="openai: read the API key from this file (else from $OPENAI_API_KEY); never logged or stored.",
    ),
]
NoCacheOpt = Annotated[
    bool,
    typer.Option("--no-cache", help="Bypass the persistent request cache ($STEPSIEVE_CACHE_DIR or .stepsieve-cache/)."),
]


@dataclass(frozen=True)
class ModelOptions:
    """The shared model options of one command, validated without I/O."""

    backend: str = "transformers"
    model: str | None = None
    base_url: str | Sequence[str] | None = None  # one server, or replicas of the same model
    concurrency: int = 8
    max_cost: str | None = None
    dry_run: bool = False
    no_cache: bool = False
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 60.0
    cache_path: str | None = None
    api_key_file: str | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS.names():
            BACKENDS.get(self.backend)  # raises ConfigError with "did you mean"
        if self.backend == "openai" and not self.model:
            raise ConfigError("--backend openai needs --model NAME (the model name the server serves)")
        if isinstance(self.base_url, list | tuple):  # one URL stays a str; several become a tuple
            urls = tuple(self.base_url)
            object.__setattr__(self, "base_url", None if not urls else urls[0] if len(urls) == 1 else urls)
        if self.backend == "transformers" and self.base_url:
            raise ConfigError("--base-url applies to --backend openai only")
        if self.concurrency < 1:
            raise ConfigError(f"--concurrency must be >= 1, got {self.concurrency}")
        if not self.timeout > 0:
            raise ConfigError(f"--timeout must be > 0 seconds, got {self.timeout}")
        if self.max_cost is not None:
            Budget.parse(self.max_cost)


def _model_options(
    backend: BackendOpt = "transformers",
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    concurrency: ConcurrencyOpt = 8,
    max_cost: MaxCostOpt = None,
    dry_run: DryRunOpt = False,
    no_cache: NoCacheOpt = False,
    timeout: TimeoutOpt = 60.0,
    api_key_file: ApiKeyFileOpt = None,
) -> ModelOptions:
    return ModelOptions(backend, model, base_url, concurrency, max_cost, dry_run, no_cache, timeout=timeout,
                        api_key_file=str(api_key_file) if api_key_file else None)


MODEL_OPTIONS = OptionGroup(_model_options)  # --backend, --model, ... --api-key-file, in this order


def _model_dir(opts: ModelOptions) -> Path:
    from stepsieve.backends._tiny_model import embedded_policy_dir

    if opts.model:
        return Path(opts.model)
    found = embedded_policy_dir()
    if found is None:
        raise ConfigError("no --model given and the embedded policy is not installed in this package")
    return found


def backend_from_options(opts: ModelOptions, *, budget: Any = None, **extra: Any) -> Any:
    """The Backend the options describe: cache and budget attached, or a counting dry run.

    ``budget`` replaces the one ``--max-cost`` describes (a Ray job's one shared budget);
    ``extra`` passes backend-specific keywords through (e.g. ``device="cuda"``).
    """
    if opts.dry_run:
        from stepsieve.backends._dryrun import DryRunBackend

        if opts.backend == "transformers":
            from transformers import AutoTokenizer

            path = _model_dir(opts)
            tok = AutoTokenizer.from_pretrained(str(path))  # the tokenizer only: no weights loaded
            return DryRunBackend("transformers", str(path), lambda ts: [len(tok(t)["input_ids"]) for t in ts], True)
        return DryRunBackend("openai", str(opts.model), lambda ts: [len(t) for t in ts], False)
    cache = None if opts.no_cache else RequestCache(opts.cache_path)
    if budget is None and opts.max_cost:
        budget = Budget.parse(opts.max_cost)
    cls = BACKENDS.get(opts.backend)
    if opts.backend == "transformers":
        return cls(_model_dir(opts), cache=cache, budget=budget, **extra)
    kw: dict[str, Any] = {"concurrency": opts.concurrency, "api_key_env": opts.api_key_env, "timeout": opts.timeout,
                          "api_key_file": opts.api_key_file}
    if opts.base_url:
        kw["base_url"] = opts.base_url if isinstance(opts.base_url, str) else list(opts.base_url)
    return cls(opts.model, cache=cache, budget=budget, **kw, **extra)


def report_backend(backend: Any, *, file: Any = None) -> dict[str, Any]:
    """Print the backend's summary as one JSON line on stderr (the dry-run estimate, or what
    the job spent) and return it. Never contains the API key."""
    summary = backend.summary() if hasattr(backend, "summary") else {"backend": backend.name, **backend.cost.to_dict()}
    label = "dry run, nothing spent" if summary.get("dry_run") else "model usage"
    print(f"{label}: {orjson.dumps(summary).decode()}", file=file or sys.stderr)
    return summary
