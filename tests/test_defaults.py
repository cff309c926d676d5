"""Every built-in objective runs on its own defaults and shows something: a few trials at the default
batch sizes escape at some m, and the table says why a theory column is empty."""

from __future__ import annotations

import pytest

from saddle.config import EscapeConfig
from saddle.escape import run_escape
from saddle.experiments.escape_cmd import format_table
from saddle.objectives.base import registered

BUILT_IN = [
    name
    for name, cls in registered().items()
    if cls.__module__.startswith("saddle.objectives") and cls.runs_from_config  # ('user' needs the user's file)
]


@pytest.mark.parametrize("name", BUILT_IN)
def test_each_objective_runs_on_its_defaults_and_escapes_at_some_batch_size(name):
    """8 trials at m = 1 and 32 (seed 0; the default m list's large m costs seconds at some objectives'
    scale), everything else the objective's defaults: the configuration is accepted (no trap, no
    refusal), one of the batch sizes escapes in at least 6 of its 8 trials, and every row of the table
    has a theory value or the table says why it has none."""
    config = EscapeConfig(objective=name, m=(1, 32), trials=8)
    result = run_escape(config)
    best = max(row["escaped"] for row in result.summary)
    assert best >= 6, (name, [(r["m"], r["escaped"]) for r in result.summary])
    table = format_table(result)
    theory = [line.split()[3] for line in table.splitlines()[1 : 1 + len(result.summary)]]
    if all(t == "-" for t in theory):
        assert "theory: " in table, table
