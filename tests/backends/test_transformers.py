"""The in-process backend: batching, prefix reuse, seeds, stops, scoring, cache, budget."""

from __future__ import annotations

import pytest
import torch

from stepsieve import BudgetExceeded
from stepsieve.backends import Backend, Budget, ChatBackend, RequestCache
from stepsieve.backends.transformers import TransformersBackend

PROMPTS = [
    "Question: Tom has 3 apples and buys 4 more. How many? Step 1: 3+4=",
    "Question: Tom has 3 apples and buys 4 more. How many? Step 1: 3+4=7\nStep 2:",
    "Hi",
    "Question: Ann has 12 pens",
]


@pytest.fixture(scope="module")
def reuse(model_dir):
    return TransformersBackend(model_dir)


@pytest.fixture(scope="module")
def naive(model_dir):
    return TransformersBackend(model_dir, prefix_reuse=False)


def _texts(result):
    return [[g.text for g in row] for row in result]


def test_satisfies_protocols(reuse):
    assert isinstance(reuse, Backend) and isinstance(reuse, ChatBackend)


def test_greedy_batch_equals_one_at_a_time(reuse):
    batched = reuse.generate(PROMPTS, max_tokens=16, temperature=0.0)
    alone = [reuse.generate([p], max_tokens=16, temperature=0.0)[0] for p in PROMPTS]
    assert _texts(batched) == _texts(alone)
    # and it is what a plain full forward picks, token by token
    ids = reuse.encode(PROMPTS[2])
    want = []
    with torch.inference_mode():
        for _ in range(batched[2][0].tokens):
            nxt = int(reuse.lm(torch.tensor([ids])).logits[0, -1].argmax())
            if nxt == reuse.eos_id:
                break
            ids.append(nxt)
            want.append(nxt)
    assert batched[2][0].text == reuse.tokenizer.decode(want, skip_special_tokens=True)


def test_prefix_reuse_same_answers_fewer_forward_tokens(reuse, naive):
    before_r, before_n = reuse.forward_tokens, naive.forward_tokens
    a = reuse.generate(PROMPTS[:2], n=8, max_tokens=12, temperature=1.0, seed=5)
    b = naive.generate(PROMPTS[:2], n=8, max_tokens=12, temperature=1.0, seed=5)
    assert _texts(a) == _texts(b)
    spent_r, spent_n = reuse.forward_tokens - before_r, naive.forward_tokens - before_n
    prompt_len = len(reuse.encode(PROMPTS[1]))
    # naive encodes each prompt 8 times; reuse encodes the shared part once
    assert spent_n - spent_r >= 7 * prompt_len
    sa = reuse.score(PROMPTS, ["7", " 9", "!", "s"])
    sb = naive.score(PROMPTS, ["7", " 9", "!", "s"])
    assert [s.logprob for s in sa] == pytest.approx([s.logprob for s in sb], abs=1e-4)


def test_seeded_sample_depends_only_on_prompt_seed_index(reuse):
    a = reuse.generate(PROMPTS, n=3, max_tokens=10, seed=11)
    b = reuse.generate([PROMPTS[3], PROMPTS[0]], n=5, max_tokens=10, seed=11)
    assert _texts(b)[0][:3] == _texts(a)[3]
    assert _texts(b)[1][:3] == _texts(a)[0]
    c = reuse.generate(PROMPTS, n=3, max_tokens=10, seed=12)
    assert _texts(c) != _texts(a)
    # samples of one prompt differ from each other
    assert len(set(_texts(a)[2])) > 1


def test_unseeded_samples_differ_between_calls(reuse):
    a = reuse.generate([PROMPTS[2]] * 1, n=4, max_tokens=20)
    b = reuse.generate([PROMPTS[2]] * 1, n=4, max_tokens=20)
    assert _texts(a) != _texts(b)


def test_stop_strings_and_max_tokens(reuse):
    free = reuse.generate(PROMPTS, n=4, max_tokens=30, seed=3)
    cut = reuse.generate(PROMPTS, n=4, max_tokens=30, seed=3, stop=["e", "!"])
    for row_f, row_c in zip(free, cut):
        for f, c in zip(row_f, row_c):
            assert "e" not in c.text and "!" not in c.text
            assert f.text.startswith(c.text)
            if c.finish_reason == "stop" and len(c.text) < len(f.text):
                assert f.text[len(c.text)] in "e!"
            assert f.tokens <= 30
    short = reuse.generate(PROMPTS, max_tokens=3, seed=1)
    assert all(g.tokens <= 3 for row in short for g in row)
    assert reuse.generate(PROMPTS[:1], max_tokens=0)[0][0].text == ""


def test_logprobs_match_scoring(reuse):
    g = reuse.generate(PROMPTS[:2], max_tokens=8, temperature=0.0, logprobs=True)
    s = reuse.score(PROMPTS[:2], [row[0].text for row in g])
    for row, sc in zip(g, s):
        # the generated logprobs may end with the EOS token's, which the text does not contain
        assert 0 < sc.tokens <= len(row[0].logprobs) <= sc.tokens + 1
        assert sc.token_logprobs == pytest.approx(row[0].logprobs[: sc.tokens], abs=1e-4)


def test_score_is_log_likelihood(reuse):
    (s,) = reuse.score([PROMPTS[0]], ["7\n"])
    ids = reuse.encode(PROMPTS[0])
    cont = reuse.tokenizer("7\n", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        lp = torch.log_softmax(reuse.lm(torch.tensor([ids + cont])).logits[0], -1)
    want = sum(float(lp[len(ids) - 1 + k, t]) for k, t in enumerate(cont))
    assert s.tokens == len(cont)
    assert s.logprob == pytest.approx(want, abs=1e-4)
    assert reuse.score(["x"], [""])[0].tokens == 0


def test_cache_reuses_greedy_and_seeded_not_unseeded(model_dir, tmp_path):
    b = TransformersBackend(model_dir, cache=RequestCache(tmp_path / "c.sqlite"))
    first = b.generate(PROMPTS, n=2, max_tokens=8, seed=4)
    spent = b.forward_tokens
    again = b.generate(PROMPTS, n=2, max_tokens=8, seed=4)
    assert _texts(again) == _texts(first) and b.forward_tokens == spent and b.cache_hits == 8
    # one more sample per prompt: only the new sample index is computed
    more = b.generate(PROMPTS, n=3, max_tokens=8, seed=4)
    assert [r[:2] for r in _texts(more)] == _texts(first) and b.cache_hits == 16
    b.generate(PROMPTS[:1], n=2, max_tokens=8)  # unseeded sampling: never cached
    spent = b.forward_tokens
    b.generate(PROMPTS[:1], n=2, max_tokens=8)
    assert b.forward_tokens > spent
    # a fresh backend on the same file (a re-run) pays nothing for the same request
    b2 = TransformersBackend(model_dir, cache=RequestCache(tmp_path / "c.sqlite"))
    assert _texts(b2.generate(PROMPTS, n=2, max_tokens=8, seed=4)) == _texts(first)
    assert b2.forward_tokens == 0 and b2.cost.calls == 0


def test_budget_stops_before_spending(model_dir):
    b = TransformersBackend(model_dir, budget=Budget(max_tokens=200))
    b.generate(PROMPTS[2:3], max_tokens=8, temperature=0.0)
    spent = b.forward_tokens
    with pytest.raises(BudgetExceeded, match="tokens"):
        b.generate(PROMPTS, n=4, max_tokens=100, temperature=0.0)
    assert b.forward_tokens == spent
    rb = TransformersBackend(model_dir, budget=Budget(max_requests=2))
    rb.score(PROMPTS[:2], ["a", "b"])
    with pytest.raises(BudgetExceeded, match="requests"):
        rb.score(PROMPTS[2:], ["a", "b"])


def test_cost_accounting(model_dir):
    b = TransformersBackend(model_dir)
    g = b.generate(PROMPTS[:2], n=3, max_tokens=5, seed=0)
    assert b.cost.calls == 2
    assert b.cost.tokens_in == sum(len(b.encode(p)) for p in PROMPTS[:2])
    assert b.cost.tokens_out == sum(x.tokens for row in g for x in row)
    assert b.cost.seconds > 0
    assert b.summary()["forward_tokens"] == b.forward_tokens


def test_sampler_follows_the_softmax_and_temperature():
    from stepsieve.backends._sampler import pick as _pick

    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logits = torch.log(probs)[None, :].repeat(400, 1)
    seeds = torch.arange(400, dtype=torch.int64) * 7919
    draws = torch.cat([_pick(logits, seeds, step, 1.0) for step in range(50)])
    freq = torch.bincount(draws, minlength=4).double() / draws.numel()
    assert torch.allclose(freq, probs.double(), atol=0.01)  # 20k draws: sd <= 0.0036
    cold = torch.cat([_pick(logits, seeds, step, 0.25) for step in range(10)])
    assert (cold == 0).double().mean() > 0.85  # p0 = .5^4 / sum(p^4) = 0.88
    assert torch.equal(_pick(logits[:3], seeds[:3], 7, 1.0), _pick(logits, seeds, 7, 1.0)[:3])


def test_lean_and_hf_decoders_give_the_same_samples(model_dir, reuse):
    hf = TransformersBackend(model_dir, decoder="hf")
    for kw in (dict(n=5, max_tokens=40, seed=21, logprobs=True),
               dict(n=4, max_tokens=40, seed=2, stop=["\n", "="]),
               dict(max_tokens=30, temperature=0.0, logprobs=True)):
        a, b = reuse.generate(PROMPTS, **kw), hf.generate(PROMPTS, **kw)
        assert reuse.decoder_used == "lean" and hf.decoder_used == "hf"
        assert _texts(a) == _texts(b)
        assert [[g.tokens for g in r] for r in a] == [[g.tokens for g in r] for r in b]
        if kw.get("logprobs"):
            for ra, rb in zip(a, b):
                for ga, gb in zip(ra, rb):
                    assert ga.logprobs == pytest.approx(gb.logprobs, abs=1e-4)


def test_cached_samples_leave_uneven_rows_per_prompt(model_dir, reuse, tmp_path):
    # One sample of PROMPTS[0] is cached, so the batch has 2 rows of it and 3 of PROMPTS[2]:
    # the shorter prompt is padded with dead slots; the answers must not notice.
    cached = TransformersBackend(model_dir, cache=RequestCache(tmp_path / "c.sqlite"))
    cached.generate(PROMPTS[:1], n=1, max_tokens=24, seed=8)
    got = cached.generate([PROMPTS[0], PROMPTS[2]], n=3, max_tokens=24, seed=8)
    assert cached.cache_hits == 1
    assert _texts(got) == _texts(reuse.generate([PROMPTS[0], PROMPTS[2]], n=3, max_tokens=24, seed=8))


def test_lean_step_matches_transformers_forward(reuse):
    """Step logits equal the model's own forward through prompt padding, KV growth past the
    preallocated capacity, and the batch shrinking (a whole prompt and single slots dropped)."""
    from stepsieve.backends._decode import HFStepper
    from stepsieve.backends._lean_llama import LeanLlama, LeanStepper
    from stepsieve.backends._prefix import prefill

    seqs = [reuse.encode(p) for p in PROMPTS[:3]]  # different lengths: the prompt segment is padded

    def fresh():
        return prefill(reuse.lm, seqs, [len(s) - 1 for s in seqs], pad_id=reuse.pad_id, last_only=True)

    with torch.inference_mode():
        pa, pb = fresh(), fresh()
        lean = LeanStepper(LeanLlama(reuse.lm), pa.cache, pa.mask, pa.next_pos, width=3, capacity=2)
        ref = HFStepper(reuse.lm, pb.cache, pb.mask, pb.next_pos, width=3)
        tokens = torch.arange(9) % 20 + 30
        for step in range(7):
            if step == 3:  # keep prompts 0 and 2, two slots each (slot order changes too)
                slots, prompts = torch.tensor([1, 0, 7, 8]), torch.tensor([0, 2])
                lean.select(slots, prompts, width=2)
                ref.select(slots, prompts, width=2)
                tokens = tokens[slots]
            got, want = lean.step(tokens), ref.step(tokens)
            assert torch.allclose(got, want, atol=1e-4), step
            tokens = want.argmax(-1)


def test_stop_check_table_keeps_leading_spaces():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from stepsieve.backends._sampler import stop_candidates, token_pieces

    vocab = {"<unk>": 0, "a": 1, "\u2581a": 2, "b!": 3, "\u2581b": 4, "c": 5}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()  # SentencePiece-style: "\u2581b" decodes to " b"
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>")
    pieces = token_pieces(fast, 7)  # one id beyond the tokenizer: unknown
    assert pieces[2] == " a" and pieces[3] == "b!" and pieces[6] is None
    assert stop_candidates(pieces, ["x ", "!"]) == [True, False, True, True, True, False, True]


@pytest.mark.parametrize("decoder", ["lean", "hf"])
def test_generate_and_score_raise_no_future_warning(model_dir, decoder):
    """Our calls into transformers use its current API (the KV cache passed as ``cache``, not
    the deprecated ``past_key_values``). Scoped to our calls: warnings that third-party
    modules raise while being imported do not count, so the backend is built first."""
    import warnings

    from stepsieve.backends._prefix import cache_arg

    backend = TransformersBackend(model_dir, decoder=decoder)
    assert cache_arg(backend.lm) in ("cache", "past_key_values")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        got = backend.generate(PROMPTS, n=3, max_tokens=12, seed=4, logprobs=True)
        backend.generate(PROMPTS[:2], n=4, max_tokens=8, temperature=0.0, stop=["\n"])
        scores = backend.score(PROMPTS[:2], [" 7", " 3+4=7"])
    assert backend.decoder_used == decoder
    assert [len(r) for r in got] == [3] * len(PROMPTS) and len(scores) == 2
