"""Shared CLI model options: parsing, validation, dry run, budget, cache bypass."""

from __future__ import annotations

import dataclasses

import orjson
import pytest
import typer
from typer.testing import CliRunner

from stepsieve import BudgetExceeded, ConfigError
from stepsieve.backends import Budget, RequestCache
from stepsieve.cli._model_options import MODEL_OPTIONS, ModelOptions, backend_from_options, report_backend
from stepsieve.cli._option_groups import Built, with_option_groups


def _summary(output: str, label: str = "model usage: ") -> dict:
    line = next(ln for ln in output.splitlines() if label in ln)  # after any progress-bar residue
    return orjson.loads(line.split(label, 1)[1])


def _app(model_dir) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @with_option_groups
    def job(model_options: Built[ModelOptions] = MODEL_OPTIONS) -> None:
        opts = model_options()
        opts = opts if opts.model else dataclasses.replace(opts, model=str(model_dir))
        be = backend_from_options(opts)
        be.generate(["1+1=", "2+2="], n=4, max_tokens=10, temperature=0.0)
        be.score(["1+1="], ["2"])
        report_backend(be, file=__import__("sys").stdout)

    @app.command()
    def other() -> None:  # a second command so typer keeps subcommand names
        pass

    return app


def test_dry_run_counts_and_spends_nothing(model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("STEPSIEVE_CACHE_DIR", str(tmp_path / "cache"))
    res = CliRunner().invoke(_app(model_dir), ["job", "--dry-run"])
    assert res.exit_code == 0, res.output
    est = _summary(res.output, "dry run, nothing spent: ")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    prompt_tokens = len(tok("1+1=")["input_ids"])
    # 2 generate calls (one per prompt) + 1 score call
    assert est["calls"] == 3
    assert est["tokens_out_at_most"] == 2 * 4 * 10
    assert est["tokens_in"] == 2 * prompt_tokens + len(tok("1+1=2")["input_ids"])
    assert not (tmp_path / "cache").exists()


def test_real_run_reports_usage_and_caches(model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("STEPSIEVE_CACHE_DIR", str(tmp_path / "cache"))
    app = _app(model_dir)
    first = CliRunner().invoke(app, ["job"])
    assert first.exit_code == 0, first.output
    assert _summary(first.output)["calls"] == 3
    second = CliRunner().invoke(app, ["job"])
    s = _summary(second.output)
    assert s["calls"] == 0 and s["cache_hits"] == 9  # 2 prompts x 4 samples + 1 score
    third = CliRunner().invoke(app, ["job", "--no-cache"])
    assert _summary(third.output)["calls"] == 3


def test_max_cost_stops_the_job(model_dir):
    res = CliRunner().invoke(_app(model_dir), ["job", "--no-cache", "--max-cost", "requests=2"])
    assert isinstance(res.exception, BudgetExceeded)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"backend": "vllm"}, "unknown backend 'vllm'"),
        ({"backend": "openai"}, "needs --model"),
        ({"base_url": "http://x"}, "openai only"),
        ({"max_cost": "dollars=3"}, "cannot read 'dollars=3'"),
        ({"max_cost": "tokens=-1"}, "whole number"),
        ({"concurrency": 0}, "concurrency"),
    ],
)
def test_bad_options_are_clear_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        ModelOptions(**kw)


def test_budget_parse():
    b = Budget.parse("tokens=1e6, requests=500")
    assert (b.max_tokens, b.max_requests) == (1_000_000, 500)


def test_openai_options_build_http_backend(tmp_path):
    be = backend_from_options(
        ModelOptions("openai", "qwen", "http://127.0.0.1:9/v1", 16, "tokens=10", cache_path=str(tmp_path / "c.sqlite"))
    )
    assert be.name == "openai" and be.concurrency == 16 and be.base_url == "http://127.0.0.1:9/v1"
    assert isinstance(be.cache, RequestCache) and be.budget.max_tokens == 10
