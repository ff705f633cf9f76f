#!/usr/bin/env bash
# The main job: swap a torchvision VGG16 and compare accuracy and speed with torch.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh bench
exec "${AI3_VENV:-.venv}/bin/python" examples/demo.py "$@"
