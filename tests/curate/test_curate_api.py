"""The public surface of stepsieve.curate changes only on purpose."""

from stepsieve import curate, trajectory


def test_curate_public_names():
    assert sorted(curate.__all__) == sorted(
        [
            "DPO_CONSUMERS",
                "EXPORT_FORMATS",
            "BackendSampler",
            "CreditOptions",
            "CurateOptions",
            "CurateStats",
            "ExportMedia",
            "ExportOptions",
            "Grading",
            "GroupStats",
            "InputReader",
            "PairOptions",
            "PairStats",
            "RowWriter",
            "StepPair",
                "axolotl_row",
            "chat_messages",
                "chat_row",
                "check_openai_chat_file",
                "check_output",
            "credit",
            "credit_file",
            "credit_task",
            "curate",
            "curate_file",
            "dpo_row",
            "export_file",
            "export_row",
            "export_rows",
            "first_line_split",
            "group_by_task",
            "make_pairs",
                "openai_chat_problems",
            "pairs_file",
            "pairs_for_task",
            "parquet_schema",
            "pipeline_file",
            "read_pairs",
            "render_step",
            "render_task",
                "sft_chat_template",
                "sft_row",
            "vlm_chat_template",
            "step_dpo_row",
            "step_status",
            "stepwise_row",
            "weights_of",
        ]
    )
    for name in curate.__all__:
        assert getattr(curate, name) is not None


def test_tree_is_exported_from_trajectory():
    for name in ("TaskTree", "Node", "normalize_step", "task_key"):
        assert name in trajectory.__all__ and hasattr(trajectory, name)
