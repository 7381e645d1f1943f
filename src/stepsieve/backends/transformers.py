"""In-process backend on ``transformers`` (CPU or GPU) with shared-prefix KV reuse.

Why in process: the embedded default must run the whole pipeline with no server and no GPU.
Why a hand-written decoding loop rather than ``model.generate``: ``generate`` with
``num_return_sequences=N`` copies the prompt N times *before* encoding it, so N rollouts pay N
forward passes over their shared prefix; here the prefix is encoded once (:mod:`._prefix`).
The loop also gives every sample its own random generator, seeded from (seed, prompt, sample
index), which is what the protocol's determinism contract asks for. Decoding (:mod:`._decode`)
steps Llama-family models through a lean step over a preallocated KV cache that stores each
prompt's KV once for all its samples (:mod:`._lean_llama`), other models through
``transformers``' own forward.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import torch

from stepsieve._errors import ConfigError, ContextOverflow
from stepsieve.backends._budget import Budget
from stepsieve.backends._cache import RequestCache, cache_key, cacheable
from stepsieve.backends._decode import HFStepper, Slots, decode
from stepsieve.backends._lean_llama import LeanLlama, LeanStepper, lean_unsupported
from stepsieve.backends._prefix import prefill
from stepsieve.backends._protocol import Generation, Score
from stepsieve.backends._sampler import sample_seed, signed, stop_candidates, token_pieces
from stepsieve.backends._weights import load_kwargs
from stepsieve.trajectory import Cost

__all__ = ["TransformersBackend", "sample_seed"]


def _model_id(path: Path) -> str:
    """Identifies the weights for cache keys without hashing gigabytes: config, tokenizer, sizes."""
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.suffix == ".json":
            h.update(f.name.encode() + f.read_bytes())
        elif f.suffix == ".safetensors":
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return f"transformers:{path.name}:{h.hexdigest()[:16]}"


class TransformersBackend:
    """A causal LM from a local directory (safetensors only), batched, with prefix reuse.

    ``forward_tokens`` / ``forward_positions`` count the tokens encoded (positions computed,
    padding included) over the backend's life; the benchmark compares them with and without
    ``prefix_reuse``. ``decoder``: "auto" (the lean step where it covers the model), "lean"
    (required; error otherwise) or "hf" (always ``transformers``' forward); same samples.
    """

    name = "transformers"

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        max_batch_rows: int = 64,
        prefix_reuse: bool = True,
        min_shared_prefix: int = 8,
        cache: RequestCache | None = None,
        budget: Budget | None = None,
        chat_template: str | None = None,
        decoder: str = "auto",
        allow_pickle: bool = False,
    ) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from stepsieve.backends._tiny_model import embedded_policy_dir

        if model is None:
            model = embedded_policy_dir()
            if model is None:
                raise ConfigError("no --model given and the embedded policy is not installed")
        path = Path(model)
        if not (path / "config.json").is_file():
            raise ConfigError(f"{path}: not a model directory (no config.json); pass --model DIR")
        if decoder not in ("auto", "lean", "hf"):
            raise ConfigError(f"decoder must be 'auto', 'lean' or 'hf', not {decoder!r}")
        self.decoder = decoder
        self.decoder_used: str | None = None  # the stepper the last decoding run used
        self._lean: LeanLlama | None = None
        self._pieces: list[str | None] | None = None
        self._stop_tables: dict[tuple[str, ...], list[bool]] = {}
        self.path = path
        self.model = str(path)
        self.model_id = _model_id(path)
        weights = load_kwargs(path, allow_pickle=allow_pickle)  # before any loading: a clear refusal
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.lm = AutoModelForCausalLM.from_pretrained(
            str(path), dtype=getattr(torch, dtype), **weights
        ).to(device)  # type: ignore[arg-type]  # transformers wraps .to(): mypy takes device for self
        self.lm.eval()
        window = getattr(self.lm.config, "max_position_embeddings", None)
        self.context_window: int | None = int(window) if window else None
        self.device = device
        self.max_batch_rows = max_batch_rows
        self.prefix_reuse = prefix_reuse
        self.min_shared_prefix = min_shared_prefix
        self.cache = cache
        self.budget = budget
        self.chat_template = chat_template or getattr(self.tokenizer, "chat_template", None)
        tok = self.tokenizer
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        self.eos_id = tok.eos_token_id
        self.cost = Cost()
        self.forward_tokens = 0
        self.forward_positions = 0
        self.cache_hits = 0
        # Where generate() spends its time (host clock: on a GPU, kernels may still be queued).
        self.stage_seconds = {"prefill": 0.0, "decode": 0.0}

    def __repr__(self) -> str:
        return f"TransformersBackend({self.model!r}, device={self.device!r}, prefix_reuse={self.prefix_reuse})"

    # ---------------------------------------------------------------- tokens

    def encode(self, text: str, special: bool = True) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=special)["input_ids"]
        if not ids:
            raise ConfigError("empty prompt: the model has no BOS token to start from")
        return ids

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(self.tokenizer(t)["input_ids"]) for t in texts]

    def _decode(self, ids: list[int]) -> str:
        return cast(str, self.tokenizer.decode(ids, skip_special_tokens=True))  # one sequence in, one str out

    # ---------------------------------------------------------------- generate

    def generate(
        self,
        prompts: Sequence[str],
        *,
        n: int = 1,
        max_tokens: int = 256,
        stop: Sequence[str] = (),
        temperature: float = 1.0,
        seed: int | None = None,
        logprobs: bool = False,
    ) -> list[list[Generation]]:
        """See :class:`~stepsieve.backends.Backend`. Logprobs are the model's own (temperature 1)."""
        return self._generate(prompts, True, n, max_tokens, stop, temperature, seed, logprobs)

    def _generate(self, prompts, special, n, max_tokens, stop, temperature, seed, logprobs):
        if n < 1 or max_tokens < 0 or temperature < 0:
            raise ConfigError("generate: need n >= 1, max_tokens >= 0, temperature >= 0 "
                              f"(got {n}, {max_tokens}, {temperature})")
        t0 = time.perf_counter()
        stop = tuple(s for s in stop if s)
        request = {"max_tokens": max_tokens, "stop": list(stop), "temperature": temperature,
                   "logprobs": logprobs, "special": special}
        cache = self.cache if cacheable(temperature, seed) else None
        out: list[list[Generation | None]] = [[None] * n for _ in prompts]
        keys: dict[tuple[int, int], str] = {}
        if cache is not None:
            for i, p in enumerate(prompts):
                for j in range(n):
                    keys[i, j] = cache_key(self.model_id, "generate", {**request, "prompt": p}, seed, j)
            found = cache.get_many(list(keys.values()))
            for (i, j), v in zip(keys, found):
                if v is not None:
                    out[i][j] = Generation(**v)
                    self.cache_hits += 1
        todo = [(i, j) for i in range(len(prompts)) for j in range(n) if out[i][j] is None]
        run_seed = seed if seed is not None else secrets.randbits(62)
        ids = {i: self.encode(prompts[i], special) for i in sorted({i for i, _ in todo})}
        for i, seq in ids.items():
            self._check_fits(i, len(seq) + (1 if max_tokens else 0))
        if self.budget is not None and todo:
            prompt_tokens = sum(len(v) for v in ids.values())
            self.budget.charge(len(ids), prompt_tokens + len(todo) * max_tokens, backend=self.name)
        # Chunk by prompt so that a prompt's samples share one prefill.
        chunk: list[tuple[int, int]] = []
        for k, row in enumerate(todo):
            chunk.append(row)
            last = k + 1 == len(todo)
            if last or (len(chunk) >= self.max_batch_rows and todo[k + 1][0] != row[0]):
                gens = self._generate_rows(
                    [prompts[i] for i, _ in chunk], [ids[i] for i, _ in chunk], [j for _, j in chunk],
                    max_tokens, stop, temperature, run_seed, logprobs,
                )
                for (i, j), g in zip(chunk, gens):
                    # the prompt is read once for its n samples: each carries its share
                    g.prompt_tokens = len(ids[i]) // n + (1 if j < len(ids[i]) % n else 0)
                    out[i][j] = g
                if cache is not None:
                    cache.put_many([(keys[i, j], _gen_dict(g)) for (i, j), g in zip(chunk, gens)])
                chunk = []
        done = cast(list[list[Generation]], out)  # every slot is filled: from the cache or generated
        produced = sum(done[i][j].tokens for i, j in todo)
        if self.budget is not None and todo:
            self.budget.refund(len(todo) * max_tokens - produced)
        self.cost = self.cost + Cost(
            len(ids), sum(len(v) for v in ids.values()), produced, time.perf_counter() - t0
        )
        return done

    @torch.inference_mode()
    def _generate_rows(
        self, prompts, seqs, samples, max_tokens, stop, temperature, seed, want_logprobs
    ) -> list[Generation]:
        """One decoding run over rows (prompt, sample); rows of one prompt share its prefill."""
        if max_tokens == 0:
            return [Generation("", 0, "length", [] if want_logprobs else None) for _ in seqs]
        # With reuse a prompt is encoded once for all its samples; without it (the baseline,
        # as ``generate(num_return_sequences=N)`` does) once per sample.
        uniq: dict[tuple[int, ...], int] = {}
        for r, s in enumerate(seqs):
            uniq.setdefault(tuple(s) if self.prefix_reuse else (r,), len(uniq))
        useqs = [list(s) for s in seqs] if not self.prefix_reuse else [list(s) for s in uniq]
        t0 = time.perf_counter()
        pre = prefill(
            self.lm, useqs, [len(s) - 1 for s in useqs], pad_id=self.pad_id,
            reuse=self.prefix_reuse, min_shared=self.min_shared_prefix, last_only=True,
        )
        self.forward_tokens += pre.forward_tokens
        self.forward_positions += pre.forward_positions
        row_prompt = [uniq[tuple(s)] for s in seqs] if self.prefix_reuse else list(range(len(seqs)))
        slots = Slots(row_prompt, len(useqs))
        t1 = time.perf_counter()
        stepper = self._stepper(pre, slots.width, max_tokens, max(len(s) for s in seqs) + max_tokens)
        rows, stats = decode(
            stepper, slots, torch.cat(pre.logits).repeat_interleave(slots.width, dim=0), len(seqs),
            max_tokens=max_tokens, temperature=temperature,
            row_seeds=[signed(sample_seed(seed, p, j)) for p, j in zip(prompts, samples)],
            eos_id=self.eos_id, want_logprobs=want_logprobs, stop=stop,
            stop_check=self._stop_check(stop, pre.logits[0].shape[-1]) if stop else [], detok=self._decode,
        )
        self.forward_tokens += stats.forward_tokens
        self.forward_positions += stats.forward_positions
        self.stage_seconds["prefill"] += t1 - t0
        self.stage_seconds["decode"] += time.perf_counter() - t1
        return [
            Generation(r.text if r.text is not None else self._decode(r.tokens), len(r.tokens) + r.eos,
                       r.finish, r.logprobs if want_logprobs else None)
            for r in rows
        ]

    def _check_fits(self, index: int, positions: int) -> None:
        """Raise ContextOverflow when a prompt (plus the first generated position) exceeds the
        model's window: positions past it were never trained, so the answer would be about
        text the model could not read (before: transformers' warning and a garbage answer).
        A generation that runs past the window is the sampler's business (``max_tokens``)."""
        w = self.context_window
        if w is not None and positions > w:
            raise ContextOverflow(
                f"{self.model}: prompt {index} needs {positions} positions, more than the model's "
                f"context window of {w} tokens",
                index=index, prompt_tokens=positions, window=w, backend=self.name,
            )

    def _stepper(self, pre, width: int, max_tokens: int, max_len: int):
        """The lean Llama step when it covers this model, else transformers' own forward."""
        why = "decoder='hf'" if self.decoder == "hf" else lean_unsupported(self.lm, max_len)
        if why is None:
            if self._lean is None:
                self._lean = LeanLlama(self.lm)
            self.decoder_used = "lean"
            return LeanStepper(self._lean, pre.cache, pre.mask, pre.next_pos, width, min(max_tokens, 128))
        if self.decoder == "lean":
            raise ConfigError(f"{self.model}: decoder='lean' cannot run this model: {why}")
        self.decoder_used = "hf"
        return HFStepper(self.lm, pre.cache, pre.mask, pre.next_pos, width)

    def _stop_check(self, stop: tuple[str, ...], vocab: int) -> list[bool]:
        if self._pieces is None or len(self._pieces) != vocab:
            self._pieces = token_pieces(self.tokenizer, vocab)
        if stop not in self._stop_tables:
            if len(self._stop_tables) > 32:
                self._stop_tables.clear()
            self._stop_tables[stop] = stop_candidates(self._pieces, stop)
        return self._stop_tables[stop]

    # ---------------------------------------------------------------- chat

    def chat(
        self,
        conversations: Sequence[Sequence[dict[str, Any]]],
        *,
        n: int = 1,
        max_tokens: int = 256,
        stop: Sequence[str] = (),
        temperature: float = 1.0,
        seed: int | None = None,
        logprobs: bool = False,
    ) -> list[list[Generation]]:
        """Replies to chat conversations through the chat template, whose text is tokenized
        without added special tokens (the template writes its own), as servers do."""
        if not self.chat_template:
            raise ConfigError(f"{self.model}: the tokenizer has no chat template; use generate() with plain prompts")
        prompts = [
            self.tokenizer.apply_chat_template(
                list(c), chat_template=self.chat_template, tokenize=False, add_generation_prompt=True
            )
            for c in conversations
        ]
        return self._generate(prompts, False, n, max_tokens, stop, temperature, seed, logprobs)

    # ---------------------------------------------------------------- score

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Score]:
        """Sum of log p(continuation token | everything before), per pair.

        Prompt and continuation are tokenized apart and concatenated (as lm-eval does), so a
        token never straddles the boundary.
        """
        if len(prompts) != len(continuations):
            raise ConfigError(f"score: {len(prompts)} prompts but {len(continuations)} continuations")
        t0 = time.perf_counter()
        out: list[Score | None] = [None] * len(prompts)
        keys = [cache_key(self.model_id, "score", {"prompt": p, "continuation": c}, None, 0)
                for p, c in zip(prompts, continuations)]
        if self.cache is not None:
            for i, v in enumerate(self.cache.get_many(keys)):
                if v is not None:
                    out[i] = Score(**v)
                    self.cache_hits += 1
        todo = [i for i in range(len(prompts)) if out[i] is None]
        p_ids = {i: self.encode(prompts[i]) for i in todo}
        c_ids = {i: self.tokenizer(continuations[i], add_special_tokens=False)["input_ids"] for i in todo}
        for i in todo:
            self._check_fits(i, len(p_ids[i]) + len(c_ids[i]))
        tokens_in = sum(len(p_ids[i]) + len(c_ids[i]) for i in todo)
        if self.budget is not None and todo:
            self.budget.charge(len(todo), tokens_in, backend=self.name)
        for start in range(0, len(todo), self.max_batch_rows):
            chunk = [i for i in todo[start : start + self.max_batch_rows] if c_ids[i]]
            for i in todo[start : start + self.max_batch_rows]:
                if not c_ids[i]:
                    out[i] = Score(0.0, [], 0)
            if not chunk:
                continue
            with torch.inference_mode():
                pre = prefill(
                    self.lm, [p_ids[i] + c_ids[i] for i in chunk], [len(p_ids[i]) - 1 for i in chunk],
                    pad_id=self.pad_id, reuse=self.prefix_reuse, min_shared=self.min_shared_prefix,
                )
            self.forward_tokens += pre.forward_tokens
            self.forward_positions += pre.forward_positions
            fresh: list[tuple[str, dict[str, Any]]] = []
            for k, i in enumerate(chunk):
                lp = torch.log_softmax(pre.logits[k][:-1], dim=-1)  # predicts each continuation token
                target = torch.tensor(c_ids[i], device=lp.device)
                tl = lp.gather(1, target[:, None])[:, 0].tolist()
                out[i] = s = Score(float(sum(tl)), tl, len(tl))
                if self.cache is not None:
                    fresh.append((keys[i], _score_dict(s)))
            if self.cache is not None:
                self.cache.put_many(fresh)
        self.cost = self.cost + Cost(len(todo), tokens_in, 0, time.perf_counter() - t0)
        return cast(list[Score], out)  # every slot is filled: from the cache, empty, or scored

    def summary(self) -> dict[str, Any]:
        """Run summary: what this backend spent (cache hits cost nothing)."""
        return {
            "backend": self.name, "model": self.model, **self.cost.to_dict(),
            "cache_hits": self.cache_hits, "forward_tokens": self.forward_tokens,
            "forward_positions": self.forward_positions,
        }


def _gen_dict(g: Generation) -> dict[str, Any]:
    return {"text": g.text, "tokens": g.tokens, "finish_reason": g.finish_reason, "logprobs": g.logprobs,
            "prompt_tokens": g.prompt_tokens}


def _score_dict(s: Score) -> dict[str, Any]:
    return {"logprob": s.logprob, "token_logprobs": s.token_logprobs, "tokens": s.tokens}
