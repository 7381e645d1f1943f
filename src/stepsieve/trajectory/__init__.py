"""The canonical Trajectory record, its JSON and Arrow forms, the containers records are
read from and written to (JSONL, JSON arrays, Parquet), rejects, and ``TaskTree``.

This package is the bottom layer: it imports nothing else of stepsieve but ``_errors``.
Readers and writers that bind a format to a container are in ``stepsieve.formats``.
"""

from stepsieve.trajectory._after_error import (
    AFTER_ERROR_RULES,
    DEFAULT_AFTER_ERROR,
    AfterError,
    after_error_verdicts,
    check_after_error,
)
from stepsieve.trajectory._arrow import TRAJECTORY_SCHEMA, arrow_schema, batch_rows, records_to_batch
from stepsieve.trajectory._record import (
    SCHEMA_VERSION,
    VERDICTS,
    Action,
    ActionType,
    Cost,
    GraderRef,
    Label,
    MediaRef,
    Outcome,
    Point,
    Step,
    StepKind,
    Trajectory,
    Verdict,
    decode_json,
    encode_json,
)
from stepsieve.trajectory._rejects import RejectSink, rejects_path
from stepsieve.trajectory._sinks import (
    JsonArraySink,
    JsonlSink,
    ParquetSink,
    Sink,
    commit_partial,
    open_sink,
    rows_to_table,
)
from stepsieve.trajectory._sources import CONTAINERS, SourceRecord, container_of, iter_source, source_size
from stepsieve.trajectory._stats import Summary, summarize
from stepsieve.trajectory._tree import Node, TaskTree, normalize_step, task_key

__all__ = [
    "AFTER_ERROR_RULES",
    "CONTAINERS",
    "DEFAULT_AFTER_ERROR",
    "SCHEMA_VERSION",
    "TRAJECTORY_SCHEMA",
    "VERDICTS",
    "Action",
    "ActionType",
    "AfterError",
    "Cost",
    "GraderRef",
    "JsonArraySink",
    "JsonlSink",
    "Label",
    "MediaRef",
    "Node",
    "Outcome",
    "ParquetSink",
    "Point",
    "RejectSink",
    "Sink",
    "SourceRecord",
    "Step",
    "StepKind",
    "Summary",
    "TaskTree",
    "Trajectory",
    "Verdict",
    "after_error_verdicts",
    "arrow_schema",
    "batch_rows",
    "check_after_error",
    "commit_partial",
    "container_of",
    "decode_json",
    "encode_json",
    "iter_source",
    "normalize_step",
    "open_sink",
    "records_to_batch",
    "rejects_path",
    "rows_to_table",
    "source_size",
    "summarize",
    "task_key",
]
