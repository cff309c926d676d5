"""``escape``: how long SGD takes to leave a strict saddle, for each batch size m."""

import argparse
import math
import sys
from datetime import datetime
from pathlib import Path

from saddle.experiments.common import EXIT_INTERRUPTED, finite_float, fmt_steps, integer

HELP = "how long SGD takes to leave a strict saddle, for each batch size m"


def add_parser(sub):
    esc = sub.add_parser("escape", help=HELP, description=HELP + ".",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_config_arguments(esc)
    esc.add_argument("--trials", type=integer, default=_default("trials"), help="trials per batch size")
    esc.add_argument("--max-steps", type=integer, default=_default("max_steps"),
                     help="trials not escaped by then are censored")
    esc.add_argument("--seed", type=integer, default=_default("seed"), help="experiment seed")
    esc.add_argument("--threads", type=integer, default=None, help="Numba threads (default: all cores)")
    esc.add_argument("--backend", default=None,
                     help="cpu | cupy (a CUDA GPU, pip install 'saddle[gpu]'); default: $SADDLE_BACKEND, else cpu")
    esc.add_argument("--out", default=None,
                     help="results folder (default: a new dated folder under ./saddle-results); "
                          "an existing folder of the same configuration is resumed")
    esc.add_argument("--no-plot", action="store_true", help="do not draw escape.pdf / escape.png")
    esc.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    return esc


def _default(name):
    from saddle.escape import EscapeConfig

    return EscapeConfig.__dataclass_fields__[name].default


def add_config_arguments(esc):
    """The options that define a configuration (shared by ``escape`` and ``theory``)."""
    from saddle.escape import LR_SCALINGS, OBJECTIVE_NAMES, EscapeConfig
    from saddle.kernels import OPTIMIZERS
    from saddle.objectives import DISTRIBUTIONS

    dflt = EscapeConfig.__dataclass_fields__
    esc.add_argument("--m", type=integer, nargs="+", default=list(dflt["m"].default), metavar="M",
                     help="batch sizes (one configuration each)")
    esc.add_argument("--objective", default=dflt["objective"].default,
                     help=f"{' | '.join(OBJECTIVE_NAMES)}")
    esc.add_argument("--d", type=integer, default=dflt["d"].default, help="dimension")
    spike = esc.add_argument_group("spike objective (SPEC 2.1)")
    spike.add_argument("--s", type=integer, default=None,
                       help="saddle order: start at (a_1+..+a_s)/sqrt(s), a saddle of index s-1 (default 2)")
    spike.add_argument("--dist", default=None,
                       help=f"data distribution: {' | '.join(DISTRIBUTIONS)} (default uniform; also ge2015)")
    spike.add_argument("--rotation-seed", type=integer, default=None,
                       help="draw a random orthogonal A with this seed (default: A = I; also ge2015)")
    ge = esc.add_argument_group("ge2015 objective (SPEC 2.2), from the collision saddle")
    ge.add_argument("--k", type=integer, default=None, help="number of components (default d)")
    ge.add_argument("--sampling", default=None,
                    help="shared (one mini-batch for all columns; default) | per-column (k m samples a step)")
    quad = esc.add_argument_group("quadratic objective (SPEC 2.3): f = x'Hx/2 + beta|x|^4/4, H = diag(-gamma, lam)")
    quad.add_argument("--gamma", type=finite_float, default=None, help="negative curvature (default 1; also octopus)")
    quad.add_argument("--lam", type=finite_float, nargs="+", default=None,
                      help="stable curvatures: one value or d-1 values (default 1)")
    quad.add_argument("--beta", type=finite_float, default=None, help="quartic coefficient (default 1)")
    quad.add_argument("--noise-var", type=finite_float, nargs="+", default=None,
                      help="per-sample gradient-noise variances: one value or d values (default 1; also octopus)")
    octo = esc.add_argument_group("octopus objective (SPEC 2.4, Du et al. 2017): d saddles in a row, from saddle 1")
    octo.add_argument("--L", type=finite_float, default=None, help="positive curvature (default e)")
    octo.add_argument("--tau", type=finite_float, default=None, help="length scale (default e)")
    esc.add_argument("--eta", type=finite_float, default=dflt["eta"].default, help="step size at m = 1")
    esc.add_argument("--lr-scaling", default=dflt["lr_scaling"].default,
                     help=f"step size against m, relative to m = 1: {' | '.join(LR_SCALINGS)}")
    esc.add_argument("--optimizer", default=dflt["optimizer"].default,
                     help=f"{' | '.join(OPTIMIZERS)}")
    esc.add_argument("--sigma-iso", type=finite_float, default=None,
                     help="isotropic noise level of noisy-sgd (required there)")
    opt = esc.add_argument_group("momentum, pgd (Jin et al. 2017) and cnc-pgd (Daneshmand et al. 2018)")
    opt.add_argument("--momentum", type=finite_float, default=None, help="heavy-ball beta (default 0.9)")
    opt.add_argument("--perturbation-radius", type=finite_float, default=None,
                     help="pgd: radius r of the perturbation ball (default 0.01)")
    opt.add_argument("--grad-threshold", type=finite_float, default=None,
                     help="pgd, cnc-pgd: perturb when ||grad f|| <= this (default 1e-3)")
    opt.add_argument("--t-threshold", type=integer, default=None,
                     help="pgd, cnc-pgd: at least this many steps between perturbations (default 20)")
    opt.add_argument("--cnc-eta", type=finite_float, default=None,
                     help="cnc-pgd: step size of its stochastic step (default 10 eta)")
    sched = esc.add_argument_group("schedules")
    sched.add_argument("--lr-decay", type=finite_float, default=None,
                       help="step size eta / (1 + t / LR_DECAY) at step t (default: constant)")
    sched.add_argument("--batch-after-drop", type=integer, default=None,
                       help="after a trial's first f-drop by delta, draw this many samples a step "
                            "(needs --target: the time to reach f <= target from the start)")
    esc.add_argument("--delta", type=finite_float, default=dflt["delta"].default,
                     help="escaped when f(u_t) <= f(u_0) - delta")
    esc.add_argument("--radius", type=finite_float, default=None,
                     help="escaped when ||u_t - u_0|| >= radius (replaces the f-drop criterion)")
    esc.add_argument("--target", type=finite_float, default=None,
                     help="escaped when f(u_t) <= target (replaces the f-drop criterion)")
    esc.add_argument("--start-perturbation", type=finite_float, default=None,
                     help="start each trial at its own random point at this distance from the saddle")
    esc.add_argument("--random-start", action="store_true",
                     help="start each trial at its own uniform random point (spike, ge2015; "
                          "octopus: uniform in [-1, 1]^d)")


def _default_out():
    base = Path("saddle-results")
    stamp = datetime.now().strftime("escape-%Y%m%d-%H%M%S")
    path, i = base / stamp, 1
    while path.exists():
        i += 1
        path = base / f"{stamp}-{i}"
    return path


def _fmt_theory(row):
    """Linear-theory median (SPEC 5), '*' where it should not be trusted, and the heat-path model's."""
    lin, model = row.get("theory_median_steps", math.nan), row.get("theory_model_median_steps", math.nan)
    if not math.isfinite(lin) and not math.isfinite(model):
        return "-"
    text = f"{lin:.0f}{'' if row['theory_trusted'] else '*'}" if math.isfinite(lin) else "inf*"
    return text + (f" / {model:.0f}" if math.isfinite(model) else "")


def format_table(result):
    """The stdout table: one row per m."""
    frozen = any(r.get("frozen", 0) for r in result.summary)
    head = ("m", "eta", "median steps [95% CI]", "theory", "median samples", "escaped", "censored", "diverged",
            *(("frozen",) if frozen else ()), "wall s")
    rows = []
    for r in result.summary:
        lb = r["median_is_lower_bound"]
        ci = "" if lb else f" [{fmt_steps(r['median_steps_lo'])}, {fmt_steps(r['median_steps_hi'])}]"
        per_step = r["median_samples"] / r["median_steps"]
        samples = f">{per_step * (r['median_steps'] - 1):.0f}" if lb else f"{r['median_samples']:.0f}"
        rows.append((str(r["m"]), f"{r['eta']:g}", fmt_steps(r["median_steps"], lb) + ci, _fmt_theory(r), samples,
                     str(r["escaped"]), str(r["censored"]), str(r["diverged"]),
                     *((str(r["frozen"]),) if frozen else ()), f"{r['wall_seconds']:.2f}"))
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows]
    if any(math.isfinite(r.get("theory_median_steps", math.nan)) for r in result.summary):
        lines.append("theory: linear median (SPEC 5; * = noise-dominated, not to be trusted) / heat-path model "
                     "(docs/theory.md)")
    if frozen:
        lines.append("frozen: gd reached an exact float64 fixed point (u_t == u_t-1) and can never escape")
    if result.config.objective == "octopus" and any(r["diverged"] for r in result.summary):
        lines.append("diverged (octopus): the iterate left the domain on which f is defined (docs/objectives.md)")
    return "\n".join(lines)


def config_from_args(args, **more):
    """The EscapeConfig of parsed configuration options (see add_config_arguments)."""
    from saddle.escape import EscapeConfig

    tup = lambda v: None if v is None else tuple(v)  # noqa: E731
    return EscapeConfig(
        m=tuple(args.m), objective=args.objective, d=args.d, s=args.s, dist=args.dist, k=args.k,
        sampling=args.sampling, gamma=args.gamma, lam=tup(args.lam), beta=args.beta, noise_var=tup(args.noise_var),
        L=args.L, tau=args.tau,
        eta=args.eta, lr_scaling=args.lr_scaling, optimizer=args.optimizer,
        sigma_iso=0.0 if args.sigma_iso is None else args.sigma_iso, momentum=args.momentum,
        perturbation_radius=args.perturbation_radius, grad_threshold=args.grad_threshold,
        t_threshold=args.t_threshold, cnc_eta=args.cnc_eta, lr_decay=args.lr_decay,
        batch_after_drop=args.batch_after_drop, delta=args.delta, radius=args.radius, target=args.target,
        start_perturbation=args.start_perturbation, random_start=args.random_start, rotation_seed=args.rotation_seed,
        **more,
    )


def run(args):
    from saddle.escape import Interrupted, run_escape

    config = config_from_args(args, trials=args.trials, max_steps=args.max_steps, seed=args.seed)
    for message in config.start_warnings():
        print(f"warning: {message}", file=sys.stderr)
    out = Path(args.out) if args.out is not None else _default_out()
    progress = not args.quiet and sys.stderr.isatty()
    try:
        result = run_escape(config, out=out, threads=args.threads, progress=progress, backend=args.backend)
    except Interrupted as stop:
        kept = ", ".join(map(str, stop.kept)) or "none"
        print(f"interrupted: kept the trials of m = {kept} in {stop.out}; "
              f"run the same command with --out {stop.out} to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.no_plot:
        from saddle.plotting import escape_figure, save_figure

        save_figure(escape_figure(result), out / "escape")
    if not args.quiet:
        print(format_table(result))
        print(f"results in {out}/ (config.json, trials.csv, summary.csv"
              f"{'' if args.no_plot else ', escape.pdf, escape.png'})")
    return 0
