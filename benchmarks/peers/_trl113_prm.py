"""The TRL arm of ``trl_prm.py``: TRL 1.13's ``PRMTrainer``, run in its own venv.

    VENV/bin/python benchmarks/peers/_trl113_prm.py --train rows.jsonl --test rows.jsonl --base DIR \
        --out DIR --scores scores.json [--epochs 3 --lr 3e-4 --batch-size 16 --seed 0]

TRL 1.13 is the last release with ``trl.experimental.prm.PRMTrainer`` (1.16, the project's, removed it),
so this file imports no stepsieve: it reads the rows that ``stepsieve export --format trl-stepwise``
wrote, trains ``AutoModelForTokenClassification(num_labels=2)`` from ``--base`` exactly as the trainer
does by default (only epochs, learning rate, batch size and seed are set, plus what a CPU needs:
no bf16, no gradient checkpointing, no checkpoint saving), then scores every ``--test`` row: the
softmax probability of class 1 ("correct") at the token where the trainer put each step's label
(``PRMTrainer.tokenize_row``, so training and scoring read the same positions). Writes JSON
``{"scores": [[p, ...], ...], "train": {...}}``, one list per test row, in row order.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--train", type=Path, required=True, help="trl-stepwise rows (JSONL) to train on")
    ap.add_argument("--test", type=Path, required=True, help="trl-stepwise rows (JSONL) to score")
    ap.add_argument("--base", required=True, help="base model directory")
    ap.add_argument("--out", type=Path, required=True, help="TRL output_dir (the trained model is saved here)")
    ap.add_argument("--scores", type=Path, required=True, help="JSON file to write the test scores to")
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import datasets
    import torch
    import transformers
    import trl
    from transformers import AutoModelForTokenClassification, AutoTokenizer
    from trl.experimental.prm import PRMConfig, PRMTrainer

    torch.set_num_threads(args.threads)
    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    tok = AutoTokenizer.from_pretrained(args.base)
    model = AutoModelForTokenClassification.from_pretrained(args.base, num_labels=2)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    train = datasets.load_dataset("json", data_files=str(args.train), split="train")
    config = PRMConfig(
        output_dir=str(args.out),
        num_train_epochs=args.epochs,
        learning_rate=args.lr,
        per_device_train_batch_size=args.batch_size,
        seed=args.seed,
        bf16=False,  # the default is True; this is a CPU run in float32, like the stepsieve arm
        gradient_checkpointing=False,  # memory, not maths: same gradients, less time
        save_strategy="no",
        report_to="none",
        logging_steps=10,
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
    )
    t0 = time.perf_counter()
    trainer = PRMTrainer(model=model, args=config, train_dataset=train, processing_class=tok)
    result = trainer.train()
    seconds = time.perf_counter() - t0
    trainer.save_model(str(args.out))

    model = trainer.model.eval()
    scores: list[list[float]] = []
    with open(args.test) as f, torch.inference_mode():
        for line in f:
            row = json.loads(line)
            enc = PRMTrainer.tokenize_row(
                row, tok, config.step_separator, config.max_length, config.max_completion_length,
                train_on_last_step_only=False, is_eval=True,
            )
            ids = torch.tensor([enc["input_ids"]], device=model.device)
            probs = torch.softmax(model(input_ids=ids).logits[0].float(), dim=-1)[:, 1]
            at = [i for i, y in enumerate(enc["labels"]) if y != -100]
            if len(at) != len(row["completions"]):
                raise SystemExit(f"{args.test}: a row of {len(row['completions'])} steps was cut to {len(at)} "
                                 f"by max_length={config.max_length}")
            scores.append([float(probs[i]) for i in at])
    history = [h for h in trainer.state.log_history if "loss" in h]
    out = {
        "scores": scores,
        "train": {
            "rows": len(train),
            "optimizer_steps": trainer.state.global_step,
            "first_loss": history[0]["loss"] if history else None,
            "final_loss": history[-1]["loss"] if history else None,
            "train_loss": result.training_loss,
            "seconds": round(seconds, 2),
            "lr_scheduler": str(config.lr_scheduler_type),
            "warmup_steps": config.warmup_steps,
            "weight_decay": config.weight_decay,
            "versions": {"trl": trl.__version__, "transformers": transformers.__version__,
                         "torch": torch.__version__, "datasets": datasets.__version__},
        },
    }
    args.scores.write_text(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
