"""What the comparison scripts in experiments/ share: run named variants over m, tabulate their medians."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from saddle.escape import EscapeConfig, run_escape  # noqa: E402
from saddle.store import atomic_write_text  # noqa: E402

COLUMNS = (
    "m",
    "escaped",
    "censored",
    "median_steps",
    "median_steps_lo",
    "median_steps_hi",
    "median_is_lower_bound",
    "median_samples",
)


def run_variants(variants, ms, **common):
    """One escape run per named variant (a dict of EscapeConfig options) over the batch sizes ``ms``.

    Returns one row per (variant, m) with the summary columns in COLUMNS.
    """
    rows = []
    for name, options in variants.items():
        res = run_escape(EscapeConfig(m=tuple(ms), **common, **options))
        for r in res.summary:
            rows.append({"variant": name, **{k: r[k] for k in COLUMNS}})
            print(name, r["m"], r["escaped"], r["median_steps"], flush=True)
    return rows


def write_tables(rows, variants, ms, out, trials, max_steps):
    """summary.csv (every row) and table.md (median steps and escaped/trials per variant and m); returns the table."""
    keys = list(rows[0])
    atomic_write_text(
        out / "summary.csv", ",".join(keys) + "\n" + "".join(",".join(str(r[k]) for k in keys) + "\n" for r in rows)
    )
    lines = ["| variant | " + " | ".join(f"m = {m}" for m in ms) + " |", "|---|" + "---:|" * len(ms)]
    for name in variants:
        mine = {r["m"]: r for r in rows if r["variant"] == name}
        cells = [
            (f">{max_steps}" if mine[m]["median_is_lower_bound"] else f"{mine[m]['median_steps']:.0f}")
            + f" ({mine[m]['escaped']}/{trials})"
            for m in ms
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    table = "\n".join(lines) + "\n"
    atomic_write_text(out / "table.md", table)
    return table
