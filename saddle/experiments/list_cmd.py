"""``list``: the saved runs under a folder (escape runs, sweeps, frontiers), one line each."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from saddle.experiments.common import Parser, emit

if TYPE_CHECKING:
    from saddle.store.runs import RunEntry

HELP = "list the saved runs under a folder: path, name, kind, objective, batch sizes, trials, date"
MAX_M_SHOWN = 6
"""A longer list of batch sizes is shown as its first three, '...', and its last."""


def add_parser(sub: argparse._SubParsersAction[Parser]) -> Parser:
    p = sub.add_parser(
        "list",
        help=HELP,
        description=HELP + ". Results folders are found by their marker files (config.json, sweep.json, "
        "frontier.json), at any depth below DIR; folders whose names start with a dot are not searched. "
        "Names, tags and notes come from each folder's run.json (--name, --tag, --note; docs/experiments.md).",
    )
    p.add_argument("dir", metavar="DIR", help="the folder to search (e.g. saddle-results)")
    p.add_argument(
        "--tag", action="append", default=None, metavar="TAG", help="only the runs with this tag (repeatable: all)"
    )
    p.add_argument("--notes", action="store_true", help="print each run's note under its line")
    return p


def _m_text(ms: tuple[Any, ...]) -> str:
    if not ms:
        return "-"
    shown = [str(m) for m in ms]
    if len(shown) > MAX_M_SHOWN:
        shown = [*shown[:3], "...", shown[-1]]
    return " ".join(shown)


def _date(created: str | None) -> str:
    """'2026-11-29 23:44' from the marker's ISO time (UTC)."""
    if not created:
        return "-"
    return created.replace("T", " ")[:16]


def format_runs(entries: list[RunEntry], notes: bool = False) -> str:
    """The table of :func:`saddle.store.runs.find_runs`' entries; a folder that cannot be read gets its reason
    in place of its columns."""
    head = ("path", "name", "tags", "kind", "objective", "m", "trials", "created (UTC)")
    rows = [
        (
            str(e.path),
            e.name or "-",
            ",".join(e.tags) or "-",
            e.kind or "-",
            e.objective or "-",
            _m_text(e.m),
            "-" if e.trials is None else str(e.trials),
            _date(e.created),
        )
        for e in entries
    ]
    good = [r for r, e in zip(rows, entries) if e.problem is None]
    widths = [max(len(h), *(len(r[i]) for r in good)) if good else len(h) for i, h in enumerate(head)]
    widths[0] = max(widths[0], *(len(r[0]) for r in rows))
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
    for row, entry in zip(rows, entries):
        if entry.problem is not None:
            lines.append(f"{row[0].ljust(widths[0])}  cannot be read: {entry.problem}")
            continue
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if notes and entry.note:
            lines.append(f"{'':{widths[0]}}  note: {entry.note}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from saddle.store.runs import find_runs, with_tags

    entries = find_runs(args.dir)  # ConfigError (one line, exit 2) for a missing DIR or a file
    if args.tag:
        entries = with_tags(entries, args.tag)
    if not entries:
        tagged = f" tagged {', '.join(args.tag)}" if args.tag else ""
        emit(f"no saved runs{tagged} under {args.dir} (a run's folder holds config.json, sweep.json or frontier.json)")
        return 0
    emit(format_runs(entries, notes=args.notes))
    return 0
