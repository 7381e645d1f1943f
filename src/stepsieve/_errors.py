"""The one exception tree of stepsieve.

    StepsieveError
    ├── ConfigError            bad option, unknown registry name, invalid config value
    ├── DataError              bad input data (carries path, line, trajectory id, step index)
    │   └── SchemaError        a record that does not match the schema
    ├── BackendError           a model backend failed (carries the backend and url, if any)
    │   ├── BackendUnavailable the server cannot be reached
    │   ├── BackendTimeout     a request exceeded its timeout after every retry
    │   └── BudgetExceeded     the job would spend more than --max-cost allows
    ├── GraderError            a grader cannot grade (e.g. a missing label it depends on)
    └── OutputError            an output cannot be written (disk full, file size limit)

Errors carry their context as attributes; ``str(err)`` is the message a user reads,
e.g. ``traces.jsonl:412: step 3 has no text``.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackendTimeout",
    "BackendUnavailable",
    "BudgetExceeded",
    "ConfigError",
    "ContextOverflow",
    "DataError",
    "GraderError",
    "OutputError",
    "SchemaError",
    "StepsieveError",
]


class StepsieveError(Exception):
    """Base of every error stepsieve raises on purpose."""


class ConfigError(StepsieveError):
    """An option or configuration value is invalid."""


class DataError(StepsieveError):
    """Input data is malformed. ``path`` and ``line`` (1-based) locate it when known."""

    def __init__(
        self,
        reason: str,
        *,
        path: str | None = None,
        line: int | None = None,
        trajectory: str | None = None,
        step: int | None = None,
    ) -> None:
        self.reason = reason
        self.path = path
        self.line = line
        self.trajectory = trajectory
        self.step = step
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.path is not None:
            where = str(self.path)
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        return where + self.reason

    def located(self, *, path: str | None = None, line: int | None = None) -> DataError:
        """The same error with its location filled in (keeps what is already known)."""
        err = type(self)(
            self.reason,
            path=self.path if self.path is not None else path,
            line=self.line if self.line is not None else line,
            trajectory=self.trajectory,
            step=self.step,
        )
        return err


class SchemaError(DataError):
    """A record does not match the schema (missing field, wrong type, empty step list)."""


class BackendError(StepsieveError):
    """A model backend failed. ``retryable`` is False when trying again (on this server or
    another replica) cannot help: the server refused the request itself (a 4xx answer)."""

    def __init__(
        self, message: str, *, backend: str | None = None, url: str | None = None, retryable: bool = True
    ) -> None:
        self.backend = backend
        self.url = url
        self.retryable = retryable
        super().__init__(message)


class BackendUnavailable(BackendError):
    """The model server cannot be reached."""


class ContextOverflow(BackendError):
    """A prompt (with the tokens asked for) does not fit the model's context window.

    Never a warning: a truncated prompt would yield a judgement of text the model never saw.
    ``index`` is the prompt's position in the batch, ``prompt_tokens`` / ``window`` the
    counts when known (a server may say only that it does not fit).
    """

    def __init__(
        self, message: str, *, index: int | None = None, prompt_tokens: int | None = None,
        window: int | None = None, backend: str | None = None, url: str | None = None,
    ) -> None:
        super().__init__(message, backend=backend, url=url)
        self.index = index
        self.prompt_tokens = prompt_tokens
        self.window = window


class BackendTimeout(BackendError):
    """A request timed out after its retries."""


class BudgetExceeded(BackendError):
    """Continuing would exceed the job's cost budget (``--max-cost``)."""


class GraderError(StepsieveError):
    """A grader cannot grade the given input."""


class OutputError(StepsieveError):
    """An output file cannot be written (disk full, a file size limit, permissions).

    ``path`` is the output; the message says what was kept and how to go on."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(message)

    @classmethod
    def from_os(cls, e: OSError, path: object, kept: str) -> OutputError:
        """``path: cannot write (No space left on device): KEPT``."""
        why = e.strerror or type(e).__name__
        return cls(f"{path}: cannot write ({why}): {kept}", path=str(path))
