#!/usr/bin/env bash
# Regenerate the seed-question sweep shown in docs/sweeps.md: escape steps and samples against
# m = 1, 2, ..., 1024 for the three learning-rate scaling rules, on the spike default.
# Results, tables and figures under docs/results/sweep-seed-question/, the printed table beside it.
# Rerunning after an interruption resumes (stored cells are kept); delete the folder to start afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m saddle.experiments sweep --config experiments/sweep_seed_question.toml --out docs/results/sweep-seed-question "$@" \
    | tee docs/results/sweep-seed-question.txt
