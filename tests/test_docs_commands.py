"""Every command and Python block shown in README.md and docs/*.md is checked here (issue 13).

* ``python -m saddle.experiments ...`` (fenced or inline): parsed by the real parser, ``--load`` handled
  as ``cli.main`` does, placeholders (FOLDER, FILE, HOST, OUT, STEM, TMP, ``...``) replaced by temporary
  values; escape/theory lines also build their EscapeConfig, so option values are validated too.
  Synopsis lines (``[--opt]``, ``a|b``, ``{x,y}``) are checked option by option.
* Every Python block compiles; the cheap ones listed in RUN also run (with the substitutions stated
  there); the ones in COMPILE_ONLY only compile, for the reason given.
* Other shell commands (pip, pytest, ruff, mypy, mkdocs, ``python script.py``, ``bash script.sh``):
  what they name exists in the repository (extras, files, and each ``--flag`` in the script's source).

docs/results/ is generated output and is not scanned.
"""

import contextlib
import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(\s*)```\s*(\w*)\s*$")
COMMAND_START = re.compile(r"^(python -m saddle\.experiments\b|python \S+\.py\b|python -m pytest\b|pip |bash |mkdocs )")


@dataclass(frozen=True)
class Snippet:
    file: str  # relative to the repository root
    line: int  # 1-based line of the snippet's first line
    kind: str  # "python" or "shell"
    text: str

    @property
    def id(self):
        return f"{self.file}:{self.line}"


def _split_shell(text):
    """Commands of one shell line: ``a && b`` is two."""
    return [part.strip() for part in text.split("&&") if part.strip()]


def collect():
    snippets = []
    for path in DOCS:
        rel = path.relative_to(ROOT).as_posix()
        lines = path.read_text(encoding="utf-8").split("\n")
        prose = list(lines)  # the lines outside fences, for inline code
        i = 0
        while i < len(lines):
            m = FENCE.match(lines[i])
            if not m:
                # an indented (4-space) code line after a blank line, e.g. docs/gpu.md's pip lines
                stripped = lines[i].strip()
                if lines[i].startswith("    ") and COMMAND_START.match(stripped) and i and not lines[i - 1].strip():
                    for cmd in _split_shell(stripped):
                        snippets.append(Snippet(rel, i + 1, "shell", cmd))
                    prose[i] = ""
                i += 1
                continue
            lang, start = m.group(2), i + 1
            j = start
            while not lines[j].strip().startswith("```"):
                j += 1
            body = lines[start:j]
            for k in range(i, j + 1):
                prose[k] = ""
            if lang == "python":
                snippets.append(Snippet(rel, start + 1, "python", "\n".join(body)))
            elif lang in ("bash", "console", "", "sh"):
                current = None  # (line, text): a line starting with whitespace continues the previous one
                for k, raw in enumerate(body):
                    text = raw.split(" # ")[0].rstrip() if not raw.lstrip().startswith("#") else ""
                    if lang == "console":
                        text = text.lstrip("$ ").rstrip() if raw.startswith("$") else ""
                    if not text.strip():
                        continue
                    if current is not None and raw[:1].isspace():
                        current = (current[0], current[1] + " " + text.strip())
                        continue
                    if current is not None:
                        snippets.extend(Snippet(rel, current[0], "shell", c) for c in _split_shell(current[1]))
                        current = None
                    if lang == "bash" or COMMAND_START.match(text.strip()):
                        current = (start + k + 1, text.strip())
                if current is not None:
                    snippets.extend(Snippet(rel, current[0], "shell", c) for c in _split_shell(current[1]))
            i = j + 1
        text = "\n".join(prose)
        for m in re.finditer(r"`([^`]+)`", text):
            code = " ".join(m.group(1).split())
            if COMMAND_START.match(code):
                line = text.count("\n", 0, m.start()) + 1
                snippets.extend(Snippet(rel, line, "shell", c) for c in _split_shell(code))
    return snippets


SNIPPETS = collect()
PYTHON = [s for s in SNIPPETS if s.kind == "python"]
SADDLE = [s for s in SNIPPETS if s.kind == "shell" and s.text.startswith("python -m saddle.experiments")]
OTHER = [s for s in SNIPPETS if s.kind == "shell" and not s.text.startswith("python -m saddle.experiments")]


def _ids(snippets):
    seen = {}
    out = []
    for s in snippets:
        n = seen[s.id] = seen.get(s.id, 0) + 1
        out.append(s.id if n == 1 else f"{s.id}#{n}")
    return out


def test_collected_something():
    assert len(SADDLE) >= 20 and len(PYTHON) >= 10 and len(OTHER) >= 10, (len(SADDLE), len(PYTHON), len(OTHER))


# --------------------------------------------------------------------------------------------------
# the example objective of docs/objectives.md ("Adding your own objective"), written to a file


def _example_objective_source():
    (block,) = [s for s in PYTHON if s.file == "docs/objectives.md" and "class Cosine(Objective)" in s.text]
    return block.text


@pytest.fixture
def example_objective(tmp_path):
    """docs/objectives.md's example as my_objective.py (the name the docs' --load line uses); unregistered after."""
    from saddle.objectives.base import unregister

    path = tmp_path / "my_objective.py"
    path.write_text(_example_objective_source(), encoding="utf-8")
    yield path
    unregister("cosine")
    sys.modules.pop("saddle_user_my_objective", None)


# --------------------------------------------------------------------------------------------------
# python -m saddle.experiments ...


def _where(snippet):
    return f"{snippet.id}: {snippet.text!r}"


def _check_synopsis(snippet, tokens):
    """A usage line such as ``plot FOLDER [FOLDER ...] [--steps | --samples | --both] [--style default|paper|talk]``."""
    from saddle.experiments.cli import COMMANDS, build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    command = next((t for t in tokens if t in COMMANDS), None)
    target = subparsers.choices[command] if command else parser
    options = {s: a for p in (parser, target) for a in p._actions for s in a.option_strings}
    words = re.findall(r"--[\w-]+(?:\s+[\w.|]+(?=[\]\s]|$))?|\{[^}]*\}", " ".join(tokens))
    assert words, _where(snippet)
    for word in words:
        if word.startswith("{"):
            assert set(word.strip("{}").split(",")) <= set(COMMANDS), _where(snippet)
            continue
        flag, _, value = word.partition(" ")
        assert flag in options, f"{_where(snippet)}: no option {flag}"
        action = options[flag]
        if "|" in value and action.choices is not None:
            for choice in value.split("|"):
                if choice.isupper():  # a metavar such as INCHES
                    continue
                assert choice in action.choices, f"{_where(snippet)}: {flag} has no choice {choice!r}"


def _substitute(tokens, tmp_path, example_objective):
    out = []
    command = None
    for i, tok in enumerate(tokens):
        prev = tokens[i - 1] if i else None
        if tok in ("escape", "theory", "sweep", "plot", "info") and command is None and prev != "--load":
            command = tok
        if prev == "--load":
            if not (ROOT / tok).is_file():  # FILE or the illustrative my_objective.py: the docs' example
                tok = str(example_objective)
            else:
                tok = str(ROOT / tok)
        elif tok in ("...", "…"):
            if command != "plot":
                continue
            tok = str(tmp_path / "folder")
        elif tok in ("FILE", "FILE.toml"):
            tok = str(ROOT / "experiments" / "sweep_seed_question.toml")
        elif tok in ("FOLDER", "OUT", "STEM", "TMP"):
            tok = str(tmp_path / tok.lower())
        elif "HOST" in tok:
            tok = tok.replace("HOST", "localhost")
        out.append(tok)
    return out


@pytest.mark.parametrize("snippet", SADDLE, ids=_ids(SADDLE))
def test_saddle_command(snippet, tmp_path, example_objective, capsys):
    from saddle.experiments import cli
    from saddle.experiments.common import UsageError
    from saddle.experiments.escape_cmd import config_from_args

    tokens = shlex.split(snippet.text, comments=True)
    assert tokens[:3] == ["python", "-m", "saddle.experiments"], _where(snippet)
    tokens = tokens[3:]
    if any(c in tok for tok in tokens for c in "[]{}|"):
        _check_synopsis(snippet, tokens)
        return
    argv = _substitute(tokens, tmp_path, example_objective)
    try:
        rest = cli._load_objectives(argv)  # what cli.main does with --load FILE
        args = cli.build_parser().parse_args(rest)
    except SystemExit as stop:  # --help
        assert stop.code in (0, None), f"{_where(snippet)}: exit status {stop.code}"
        assert "usage:" in capsys.readouterr().out
        return
    except (UsageError, ValueError) as err:
        pytest.fail(f"{_where(snippet)}: the parser refuses it: {err}")
    if args.command == "escape":
        from saddle.experiments.escape_cmd import grid_sweep

        try:
            if grid_sweep(args) is not None:  # several values of an option: a sweep, every cell checked
                return
        except ValueError as err:  # ConfigError
            pytest.fail(f"{_where(snippet)}: its options are refused: {err}")
    if args.command in ("escape", "theory"):
        more = {k: getattr(args, k) for k in ("trials", "max_steps", "seed") if hasattr(args, k)}
        try:
            config_from_args(args, **more)
        except ValueError as err:  # ConfigError
            pytest.fail(f"{_where(snippet)}: its options are refused: {err}")
    elif args.command == "sweep":
        from saddle.sweep import SweepConfig

        path = args.config_file or args.config
        assert Path(path).is_file(), f"{_where(snippet)}: no file {path}"
        SweepConfig.from_toml(path)
    elif args.command == "plot":
        for folder in args.folders:
            if folder.startswith("docs/"):
                assert (ROOT / folder).is_dir(), f"{_where(snippet)}: no folder {folder}"


# --------------------------------------------------------------------------------------------------
# other shell commands: what they name exists


def _extras():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


# docs/experiments.md: "Three scripts, each `python experiments/<name>.py [--quick]`"
SCRIPT_PLACEHOLDERS = {
    "experiments/<name>.py": [
        "experiments/teacher_student_saad_solla.py",
        "experiments/teacher_student_plateau_length.py",
        "experiments/teacher_student_batch_size.py",
    ],
}


@pytest.mark.parametrize("snippet", OTHER, ids=_ids(OTHER))
def test_other_command(snippet):
    pyproject = _extras()
    tokens = shlex.split(snippet.text, comments=True)
    where = _where(snippet)
    if tokens[:2] == ["pip", "install"]:
        extras = pyproject["project"]["optional-dependencies"]
        for spec in tokens[2:]:
            if spec.startswith("-"):
                continue
            m = re.fullmatch(r"(\.|saddle)(?:\[([\w,-]+)\])?", spec)
            if m:
                for extra in filter(None, (m.group(2) or "").split(",")):
                    assert extra in extras, f"{where}: no extra {extra!r} in pyproject.toml"
            else:  # another package: one the project's extras name the family of (cupy-cuda13x ~ cupy-cuda12x)
                family = re.sub(r"\d+x$", "", spec.split("[")[0])
                assert any(family in dep for deps in extras.values() for dep in deps), f"{where}: unknown {spec}"
    elif tokens[:3] == ["python", "-m", "pytest"]:
        assert (ROOT / "tests").is_dir() and "pytest" in pyproject["tool"], where
        for name in (t for t in tokens[3:] if not t.startswith("-")):
            assert (ROOT / name).exists(), f"{where}: no file {name}"
    elif tokens[0] in ("ruff", "mypy"):
        assert tokens[0] in pyproject["tool"], where
    elif tokens[0] == "mkdocs":
        assert (ROOT / "mkdocs.yml").is_file() and tokens[1] in ("serve", "build", "gh-deploy"), where
        assert "docs" in pyproject["project"]["optional-dependencies"], where
    elif tokens[0] == "bash":
        assert (ROOT / tokens[1]).is_file(), f"{where}: no file {tokens[1]}"
    elif tokens[0] == "python" and tokens[1].endswith(".py"):
        for name in SCRIPT_PLACEHOLDERS.get(tokens[1], [tokens[1]]):
            script = ROOT / name
            assert script.is_file(), f"{where}: no file {name}"
            source = script.read_text(encoding="utf-8")
            for flag in (t.strip("[]") for t in tokens[2:] if t.strip("[").startswith("--")):  # grepped, not run:
                # the scripts take minutes, and --help would import them cold
                pattern = rf"""add_argument\(\s*["']{re.escape(flag)}["']"""
                assert re.search(pattern, source), f"{where}: {name}: no {flag}"
    else:
        pytest.fail(f"{where}: a command this test does not know how to check")


def test_files_named_inline_exist():
    """Inline `experiments/x.py`, `benchmarks/x.py`, `experiments/x.sh` references name real files."""
    missing = []
    for path in DOCS:
        for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
            for name in re.findall(r"`((?:experiments|benchmarks)/[\w.-]+\.(?:py|sh|toml))\b", line):
                if not (ROOT / name).is_file():
                    missing.append(f"{path.relative_to(ROOT)}:{n}: {name}")
    assert not missing


# --------------------------------------------------------------------------------------------------
# Python blocks

# Blocks that run, by (file, a line of the block) -> the plain string replacements made first (stated
# here), and the preamble run before it (e.g. the `result` an earlier block made).  Runs in a temporary
# folder where docs/ and experiments/ link to the repository's, so nothing is written into the repository.
RESULT = 'import saddle\nresult = saddle.load("docs/results/default")\n'  # the `result` the figures blocks use
RUN = {
    ("README.md", 'result = run_escape(m=[1, 4, 32, 1024], trials=1000, seed=0, out="my-results")'): (
        [("trials=1000", "trials=20")],
        "",
    ),
    ("docs/theory.md", 'q = spike_saddle(d=10, s=2, dist="uniform")'): ([], ""),
    ("docs/objectives.md", "class Cosine(Objective):"): ([], ""),
    ("docs/objectives.md", 'result = run_escape(objective="cosine", d=3, sigma=0.5'): (
        [("trials=1000", "trials=50")],
        "from saddle.objectives.base import load_file\nload_file(EXAMPLE)\n",
    ),
    ("docs/objectives.md", "class Averaged(Optimizer):"): (
        [  # the example optimiser is registered and its option checked (tests/test_optimizer_registry.py
            # runs a test-defined optimiser through the kernel); then the registry is left as it was
            (
                "    step = staticmethod(averaged_step)",
                "    step = staticmethod(averaged_step)\n\n"
                "from saddle.config import EscapeConfig\n"
                "from saddle.optimizers import get, unregister\n"
                "try:\n"
                "    assert get('averaged') is Averaged and Averaged.state_vectors == 1\n"
                "    _c = EscapeConfig(optimizer='averaged', weight=0.7)\n"
                "    assert _c.weight == 0.7 and _c.to_dict()['weight'] == 0.7\n"
                "finally:\n"
                "    unregister('averaged')",
            )
        ],
        "",
    ),
    ("docs/sweeps.md", "summary = read_table("): ([], ""),
    ("docs/schedules.md", "plan = Schedule(batch=BatchSwitch(1, drop)"): (
        [("run_escape(m=(32,), schedule=plan)", "run_escape(m=(32,), trials=20, schedule=plan)")],
        "",
    ),
    ("docs/frontier.md", "result = saddle.run_frontier("): (
        [("m=(1, 4, 16, 64), trials=200", "m=(16, 64), trials=40")],
        "",
    ),
    ("docs/figures.md", 'result = saddle.load("saddle-results/escape-20261129-120000")'): (
        [('"saddle-results/escape-20261129-120000"', '"docs/results/default"')],  # the docs' illustrative folder
        "",
    ),
    ("docs/figures.md", "fig = escape_figure(result"): ([], RESULT),
    ("docs/figures.md", "batch_size_panel(ax, result"): ([], RESULT),
    ("docs/sweeps.md", "words = (int(key[:8], 16)"): (
        [],
        'import numpy as np\nkey, sweep_seed = "0123456789abcdef" * 4, 12345\n',
    ),
}

# Blocks that only compile, and why.
COMPILE_ONLY = {
    ("docs/gpu.md", "from saddle.kernels import run_trials"): "needs a CUDA GPU and CuPy; 100 000 trials",
    ("docs/sweeps.md", "sweep = SweepConfig.from_toml("): "runs the whole seed-question sweep (about 16 s, more cold)",
    ("docs/theory.md", "res = run_escape(m=[2**k for k in range(11)], trials=2000"): "2000 trials at 11 batch sizes",
    ("docs/api.md", "result = run_escape(m=[1, 4, 32], trials=200)"): "three runs of the same 600 trials; "
    "progress and announce are tested in tests/test_results_api.py",
    ("docs/api.md", "trials = saddle.stack([base, hotter])"): "reads two saved runs of the reader's own; "
    "stack is tested in tests/test_results_api.py",
}


def _match(table):
    found = {}
    for key in table:
        file, needle = key
        hits = [s for s in PYTHON if s.file == file and needle in s.text]
        assert len(hits) == 1, f"{key}: {len(hits)} Python blocks match"
        found[hits[0]] = key
    return found


def test_every_python_block_is_run_or_listed():
    run, only = _match(RUN), _match(COMPILE_ONLY)
    unlisted = [s.id for s in PYTHON if s not in run and s not in only]
    assert not unlisted, f"Python blocks neither run nor listed in COMPILE_ONLY: {unlisted}"


@pytest.mark.parametrize("snippet", PYTHON, ids=_ids(PYTHON))
def test_python_block_compiles(snippet):
    compile(snippet.text, snippet.id, "exec")


@contextlib.contextmanager
def _workdir(tmp_path):
    for name in ("docs", "experiments"):
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield
    finally:
        os.chdir(old)


def _check_comments(snippet, namespace):
    """Comments that state values: ``expr  # array([...])`` and ``# best.m_steps = 16, ...``."""
    for line in snippet.text.split("\n"):
        code, _, comment = line.partition("  # ")
        comment = comment.strip()
        if comment.startswith("array("):
            expected = np.array(eval(comment[len("array(") : -1]))  # noqa: S307 - the docs' own literal
            np.testing.assert_allclose(eval(code.strip(), namespace), expected, err_msg=snippet.id)
        for lhs, rhs in re.findall(r"\b([a-z_]+\.[a-z_.]+) = ([\d.]+)\b", comment):
            if lhs.split(".")[0] in namespace:
                assert eval(lhs, namespace) == float(rhs), f"{snippet.id}: {lhs} is {eval(lhs, namespace)}, not {rhs}"


RUN_BLOCKS = list(_match(RUN))


@pytest.mark.parametrize("snippet", RUN_BLOCKS, ids=_ids(RUN_BLOCKS))
def test_python_block_runs(snippet, tmp_path, example_objective):
    import matplotlib

    matplotlib.use("Agg")
    replacements, preamble = RUN[_match(RUN)[snippet]]
    code = snippet.text
    for old, new in replacements:
        assert old in code, f"{snippet.id}: the substitution {old!r} no longer applies"
        code = code.replace(old, new)
    namespace = {"__name__": "docs_snippet", "EXAMPLE": str(example_objective)}
    with _workdir(tmp_path):
        exec(compile(preamble, f"{snippet.id} (preamble)", "exec"), namespace)
        exec(compile(code, snippet.id, "exec"), namespace)
    _check_comments(snippet, namespace)
    if "run_escape(" in code and "result" in namespace:
        assert all(row["trials"] > 0 for row in namespace["result"].summary), snippet.id
