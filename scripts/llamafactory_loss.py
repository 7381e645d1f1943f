"""Which tokens LLaMA-Factory trains on, for a stepsieve LLaMA-Factory export: its own
``SharegptDatasetConverter`` and ``SupervisedDatasetProcessor`` (the code its ``sft`` stage
runs) on the rows named in ``dataset_info.json``, with the template and ``mask_history`` of a
training run. Prints JSON: per row, the text of the tokens whose label is not -100.

LLaMA-Factory is not a stepsieve dependency (it pins transformers, peft and torchaudio
releases of its own). Run this where it is installed, e.g.::

    stepsieve export masked.jsonl -o lf/gui.jsonl --format llamafactory-vision
    python scripts/llamafactory_loss.py --dataset-dir lf --dataset gui --template qwen2_vl \\
        --model Qwen/Qwen2-VL-2B-Instruct            # or a tiny one: --tiny-qwen2-vl DIR

``--tiny-qwen2-vl DIR`` builds stepsieve's tiny random Qwen2-VL and its processor in DIR
(no download) and uses its tokenizer and processor.
"""

from __future__ import annotations

import argparse
import json
import os


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset-dir", required=True)
    ap.add_argument("--dataset", required=True, help="the entry's name in dataset_info.json")
    ap.add_argument("--template", default="qwen2_vl")
    ap.add_argument("--model", help="a model id or directory with tokenizer and processor")
    ap.add_argument("--tiny-qwen2-vl", help="build stepsieve's tiny Qwen2-VL here and use it")
    ap.add_argument("--no-mask-history", action="store_true", help="for --lf-rows record exports")
    ap.add_argument("--cutoff-len", type=int, default=8192)
    a = ap.parse_args()

    import datasets
    from llamafactory.data.converter import SharegptDatasetConverter
    from llamafactory.data.parser import get_dataset_list
    from llamafactory.data.processor.supervised import SupervisedDatasetProcessor
    from llamafactory.data.template import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments

    if a.tiny_qwen2_vl:
        from stepsieve.backends._tiny_model import build_tiny_qwen2_vl, qwen2_vl_processor

        processor = qwen2_vl_processor(build_tiny_qwen2_vl(a.tiny_qwen2_vl))
        # built without torchvision, so without a video processor; LLaMA-Factory's qwen2_vl
        # plugin insists one exists even when no video is given (none is used here)
        processor.video_processor = processor.image_processor
        tokenizer = processor.tokenizer
    else:
        from transformers import AutoProcessor, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(a.model)
        try:
            processor = AutoProcessor.from_pretrained(a.model)
        except (OSError, ValueError):
            processor = None
    data_args = DataArguments(dataset_dir=a.dataset_dir, dataset=a.dataset, template=a.template,
                              mask_history=not a.no_mask_history, cutoff_len=a.cutoff_len)
    (attr,) = get_dataset_list([a.dataset], a.dataset_dir)
    ds = datasets.load_dataset("json", data_files=os.path.join(a.dataset_dir, attr.dataset_name), split="train")
    converter = SharegptDatasetConverter(attr, data_args)
    aligned = [converter(ex) for ex in ds]
    template = get_template_and_fix_tokenizer(tokenizer, data_args)
    proc = SupervisedDatasetProcessor(template=template, tokenizer=tokenizer, processor=processor, data_args=data_args)
    batch = {k: [ex[k] for ex in aligned] for k in aligned[0]}
    out = proc.preprocess_dataset(batch)
    rows = []
    for ids, labels in zip(out["input_ids"], out["labels"]):
        rows.append({"tokens": len(ids), "trained": tokenizer.decode([t for t, y in zip(ids, labels) if y != -100])})
    print(json.dumps({"dataset": a.dataset, "template": a.template, "mask_history": data_args.mask_history,
                      "rows_in": len(ds), "rows_out": len(rows), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
