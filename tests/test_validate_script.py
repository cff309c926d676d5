"""experiments/validate_default.py is exact and seeded (issue 13): a batch size's row, both columns, does not
depend on which other batch sizes the command lists (its independent generator used to be keyed by the
row's position, so another --m list gave other numbers)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _row(m_list, m):
    args = [sys.executable, "experiments/validate_default.py", "--trials", "150", "--m", *map(str, m_list)]
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith(f"| {m} |"))
    return row.rsplit("|", 2)[0]  # without the wall-seconds column


def test_a_row_is_the_same_whatever_else_m_lists():
    assert _row([32], 32) == _row([4, 32], 32)
