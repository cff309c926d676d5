#!/usr/bin/env bash
# Regenerate the default run shown in README.md and docs/escape.md:
# the main job on built-in defaults, its files under docs/results/default/.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf docs/results/default
python -m saddle.experiments escape --m 1 4 32 1024 --out docs/results/default | tee docs/results/default.txt
