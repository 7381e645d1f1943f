"""``stepsieve serve-prm``: a step reward model over HTTP (OpenRLHF and vLLM request shapes)."""

from __future__ import annotations

from pathlib import Path

import typer

from stepsieve.cli._app import app


@app.command("serve-prm")
def serve_prm_cmd(
    model: Path = typer.Argument(
        None, help="StepRM or implicit PRM directory (default: the embedded StepRM)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: this machine only)."),
    port: int = typer.Option(8765, "--port", help="Port (0: any free port; the URL is printed)."),
    aggregate: str = typer.Option(
        "min", "--aggregate", help="Step scores -> one reward: min, prod, last, mean."
    ),
    max_batch: int = typer.Option(64, "--max-batch", help="Trajectories per scoring call."),
    max_queue: int = typer.Option(256, "--max-queue", help="Requests waiting to be scored; more get 503."),
    timeout: float = typer.Option(
        60.0, "--timeout", help="Seconds a request waits for its scores; then 504."
    ),
    threads: int = typer.Option(32, "--threads", help="Request-handling threads."),
    separator: str = typer.Option(
        None, "--separator", help="Step separator of responses (default: the model's)."
    ),
    score: str = typer.Option(
        None, "--score", help="Implicit PRMs: cumulative or step (default: the checkpoint's)."
    ),
    device: str = typer.Option(None, "--device", help="cpu, cuda... (default: cuda when present)."),
) -> None:
    """Serve step rewards: POST /get_reward (OpenRLHF --remote_rm_url), POST /pooling and /v1/pooling
    (vLLM's pooling API, one [1-p, p] row a step), GET /health, GET /v1/models.

    Examples:

      stepsieve serve-prm src/stepsieve/embedded/steprm --port 8765

      stepsieve serve-prm runs/implicit-prm --port 8765 --aggregate last

      curl -s 127.0.0.1:8765/get_reward -d '{"query": ["Problem: ...\\nSolution:\\n3 + 4 = 7\\nAnswer: 7"],
      "prompts": ["Problem: ...\\nSolution:\\n"]}'
    """
    from stepsieve.prm import load_scorer
    from stepsieve.rewards import PRMServer, ServeOptions

    sep = separator.encode().decode("unicode_escape") if separator and "\\" in separator else separator
    options = ServeOptions(
        host=host,
        port=port,
        aggregate=aggregate,
        max_batch=max_batch,
        max_queue=max_queue,
        timeout=timeout,
        threads=threads,
        separator=sep,
    )
    loaded = load_scorer(model, device=device, batch_size=max_batch, score=score)
    server = PRMServer(loaded, options)
    typer.echo(f"serving {loaded.kind} {loaded.path} on {server.url}", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
