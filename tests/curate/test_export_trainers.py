"""Each export in the trainer that consumes it: TRL 1.16 DPOTrainer and SFTTrainer, run for
one optimisation step on the embedded policy, on files written by the export and loaded by
`datasets`. The assertions are on WHAT is trained: the prompt the trainer conditions on and
the tokens that carry loss in the collated batch (``completion_mask`` / ``labels``)."""

from __future__ import annotations

import orjson
import pytest
from helpers_curate import traj

pytest.importorskip("trl")
torch = pytest.importorskip("torch")

from stepsieve.curate import (  # noqa: E402
    CurateOptions,
    ExportOptions,
    Grading,
    PairOptions,
    curate,
    export_file,
    pairs_file,
    sft_chat_template,
)
from stepsieve.embedded import load_model  # noqa: E402
from stepsieve.trajectory import Action, Label, Step, Trajectory, encode_json  # noqa: E402

TASK = "Problem: 2+3*4\nSolution:"


def _write(path, ts):
    path.write_bytes(b"".join(encode_json(t) + b"\n" for t in ts))
    return path


def _load(path, tmp_path):
    import datasets

    kind = "parquet" if str(path).endswith(".parquet") else "json"
    return datasets.load_dataset(kind, data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"))


def _policy():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model, tok = load_model("policy")
    model.train()
    return model, tok


def _args(cls, tmp_path, **kw):
    return cls(
        output_dir=str(tmp_path / "run"), max_steps=1, per_device_train_batch_size=2, report_to=[],
        use_cpu=True, save_strategy="no", dataloader_num_workers=0, logging_steps=1, **kw,
    )


def _graded_pair_source(tmp_path):
    """Two solutions of one task sharing two steps; the first errs at step 2 (Step-DPO pair)."""
    texts_bad = ["3*4=12", "2+12=14", "answer 15", "done"]
    texts_ok = ["3*4=12", "2+12=14", "answer 14", "done"]
    return _write(tmp_path / "graded.jsonl", [
        traj("w", ["correct", "correct", "incorrect", None], task=TASK, texts=texts_bad),
        traj("ok", ["correct", "correct", "correct", "correct"], task=TASK, texts=texts_ok),
    ])


@pytest.mark.parametrize("fmt", ["trl-dpo", "step-dpo", "pairs"])
def test_dpo_trainer_conditions_on_the_previous_steps(tmp_path, fmt):
    from trl import DPOConfig, DPOTrainer

    src = _graded_pair_source(tmp_path)
    out = tmp_path / f"pairs-{fmt}.jsonl"
    pairs_file(src, out, Grading("truth"), PairOptions(kinds=("first_error",)), fmt=fmt)
    ds = _load(out, tmp_path)
    assert ds.num_rows == 1
    model, tok = _policy()
    trainer = DPOTrainer(model=model, args=_args(DPOConfig, tmp_path), train_dataset=ds, processing_class=tok)
    ex = trainer.train_dataset[0]
    # the context DPO conditions on: the task AND the steps before the pair's step
    assert tok.decode(ex["prompt_ids"]) == f"{TASK}\n3*4=12\n2+12=14\n"
    batch = trainer.data_collator([ex, ex])
    ids, mask = batch["input_ids"], batch["completion_mask"].bool()
    chosen, rejected = tok.decode(ids[0][mask[0]]), tok.decode(ids[2][mask[2]])
    # loss (the log-prob ratio) covers the step itself and TRL's end-of-sequence, nothing else
    assert (chosen, rejected) == ("answer 14<eos>", "answer 15<eos>")
    trainer.train()
    assert trainer.state.global_step == 1


def test_step_dpo_for_step_dpo_keeps_the_task_alone_as_prompt(tmp_path):
    src = _graded_pair_source(tmp_path)
    out = tmp_path / "sdpo.jsonl"
    pairs_file(src, out, Grading("truth"), PairOptions(kinds=("first_error",)), fmt="step-dpo",
               export=ExportOptions(format="step-dpo", dpo_for="step-dpo"))
    (row,) = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    # Step-DPO's trainer builds its prompt as template(prompt) + initial_reason_steps
    assert (row["prompt"], row["initial_reason_steps"]) == (TASK, "3*4=12\n2+12=14\n")


def _agent() -> Trajectory:
    """An agent run: a weight-1 tool call, a weight-0 tool call, a weight-1 final answer."""
    task = [{"role": "system", "content": "Use the calculator."}, {"role": "user", "content": "7+8?"}]

    def call(i, expr):
        return [Action("tool", name="calculator", arguments=orjson.dumps({"expression": expr}).decode(),
                       id=f"c{i}")]

    steps = [
        Step(0, "calculator 7 + 9", "action", "16", actions=call(0, "7 + 9")),
        Step(1, "calculator 7 + 8", "action", "15", actions=call(1, "7 + 8")),
        Step(2, "answer 15", "reasoning"),
    ]
    weights = [1.0, 0.0, 1.0]
    for s, w in zip(steps, weights):
        s.labels["curate"] = Label(w, None, extra={"kind": "weight"})
    return Trajectory("agent", task, steps)


@pytest.mark.parametrize("turns", ["merge", "step"])
def test_sft_trainer_puts_loss_exactly_on_the_kept_steps(tmp_path, turns):
    from trl import SFTConfig, SFTTrainer

    # a solution whose step 2 is wrong: mask mode trains steps 0-1 and masks 2-3
    (math,) = curate(
        [traj("m", ["correct", "correct", "incorrect", None], task=TASK,
              texts=["3*4=12", "2+12=14", "answer 15", "done"])],
        Grading("truth"), CurateOptions(mode="mask"),
    )
    src = _write(tmp_path / "curated.jsonl", [math, _agent()])
    out = tmp_path / "sft.parquet"
    export_file(src, out, ExportOptions(format="trl-sft", turns=turns))
    ds = _load(out, tmp_path)
    assert ds.num_rows == 2
    model, tok = _policy()
    tok.chat_template = sft_chat_template()
    trainer = SFTTrainer(
        model=model, args=_args(SFTConfig, tmp_path, assistant_only_loss=True),
        train_dataset=ds, processing_class=tok,
    )
    batch = trainer.data_collator([trainer.train_dataset[0], trainer.train_dataset[1]])
    texts, trained = [], []
    for ids, labels, att in zip(batch["input_ids"], batch["labels"], batch["attention_mask"]):
        texts.append(tok.decode(ids[att.bool()]))
        trained.append(tok.decode(ids[labels != -100]))
    # one turn per solution: an end-of-turn only where the policy really stops
    assert texts[0] == f"{TASK}\n3*4=12\n2+12=14\nanswer 15\ndone<eos>"
    assert trained[0] == "3*4=12\n2+12=14\n"  # the kept steps (and the newline the policy writes next)
    assert texts[1] == (
        'Use the calculator.\n7+8?\n> calculator {"expression":"7 + 9"}<eos>< 16\n'
        '> calculator {"expression":"7 + 8"}<eos>< 15\nanswer 15<eos>'
    )
    # the kept call and the final answer with their end-of-turn; never the task or a tool result
    assert trained[1] == '> calculator {"expression":"7 + 9"}<eos>answer 15<eos>'
    trainer.train()
    assert trainer.state.global_step == 1
