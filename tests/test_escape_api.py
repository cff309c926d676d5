"""What run_escape gives a researcher beyond the numbers: status names, tidy stored numbers, and one line
per finished batch size (and before a first compile) for a log that is not a terminal (issue 13)."""

import math

import numpy as np

from saddle.escape import run_escape


def test_status_names_tidy_numbers_and_a_line_per_batch_size():
    lines = []
    res = run_escape(m=(1, 4), trials=60, max_steps=400, seed=2, announce=lines.append)
    mres = res.by_m[1]
    assert set(mres.status_names) <= {"escaped", "censored", "diverged", "frozen"}
    np.testing.assert_array_equal(mres.status_names == "escaped", mres.status == 0)
    assert [line.split(":")[0] for line in lines if line.startswith("m = ")] == ["m = 1", "m = 4"]
    for row in res.summary:
        for key, value in row.items():
            if isinstance(value, float) and math.isfinite(value):
                assert value == float(f"{value:.12g}"), key  # no 1181.450000000001
