"""The prepared check of the cupy backend, for a machine with an NVIDIA GPU (one run, under 5 minutes).

    python benchmarks/gpu_check.py [--trials 100000] [--json PATH]

Run it from the repository root; saddle need not be installed (the root is put on sys.path).
It installs nothing, except when CuPy is missing: then it runs ``pip install -e ".[gpu]"`` once
and says so.  In order it

1. prints the machine: the GPU (CuPy's view of it, and nvidia-smi), the CPU, the versions;
2. runs the GPU tests: ``python -m pytest tests/test_gpu.py tests/test_gpu_source.py -q``;
3. compares the random streams of both backends: raw Philox4x32-10 words, the data variates of
   the three distributions, and the normals, for a few keys (identical / max relative difference);
4. compares escapes for the default configuration (spike d = 10, s = 2, uniform data, eta = 0.01,
   delta = 0.1, max-steps 10000) at m = 1, 4, 32, 1024: the first 2000 trials on both backends,
   trial by trial (the fraction of trials whose escape step differs, the largest difference) and
   as distributions (two-sample Kolmogorov-Smirnov p-value);
5. measures throughput, in sample-gradients per second (the sum over trials of escape steps x m,
   over the wall time), of the default configuration at m = 1 and m = 1024: the GPU on 10^5
   trials; the CPU backend with 2 Numba threads (the project's 2-core reference machine) and
   with every core, on fewer trials (4000 at m = 1, 400 at m = 1024: its throughput does not
   depend on the number of trials, and 10^5 trials at m = 1024 would take minutes), said so in
   the output;
6. prints the GPU / 2-thread-CPU ratio at m = 1024 against the target of 50x, and the GPU
   throughput of the three builds of escape.cu at m = 1024 (exact-length, workspace, generic),
   to choose saddle.kernels.gpu.FIXED_DIM_MAX from measurements.

Exit status: 0 when the tests pass, the streams are identical and the target is met; 1
otherwise; 2 when the cupy backend cannot run here.  Every figure also goes to the JSON file.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT = dict(d=10, s=2, dist="uniform", eta=0.01, delta=0.1, max_steps=10_000, seed=0)
M_COMPARE = (1, 4, 32, 1024)
COMPARE_TRIALS = 2000
CPU_TRIALS = {1: 4000, 1024: 400}
TARGET_RATIO = 50.0


def say(text=""):
    print(text, flush=True)


def ensure_cupy():
    """Import CuPy, installing it with pip install -e ".[gpu]" (said so) only when it is missing."""
    try:
        import cupy  # noqa: F401

        return True
    except ImportError as err:
        say(f"CuPy is missing ({err}); running: {sys.executable} -m pip install -e '.[gpu]'")
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-e", ".[gpu]"], cwd=ROOT, timeout=240)
        say(f"pip exited with status {done.returncode}")
    try:
        import cupy  # noqa: F401, F811

        return True
    except ImportError:
        return False


def machine(device_line):
    import numba
    import numpy

    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "gpu": device_line,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "cpu_cores": os.cpu_count(),
        "platform": platform.platform(),
    }
    try:
        import cupy

        info["cupy"] = cupy.__version__
    except ImportError:
        pass
    try:
        info["nvidia_smi"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        info["nvidia_smi"] = "nvidia-smi not available"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def run_tests():
    cmd = [sys.executable, "-m", "pytest", "tests/test_gpu.py", "tests/test_gpu_source.py", "-q", "-rs"]
    say("$ " + " ".join(cmd[2:]))
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
    say("\n".join("    " + line for line in tail))
    return {"returncode": done.returncode, "wall_s": time.perf_counter() - start, "tail": tail}


def compare_streams(device):
    import numpy as np

    from saddle import rng
    from saddle.kernels import gpu

    out = {}
    keys = [(0, 0, 1, 1, rng.DATA), (2**64 - 1, 99_999, 10_000, 1024, rng.NOISE), (12345, 7, 3, 32, rng.PERTURB)]
    same_words = all(np.array_equal(gpu.philox_words(device, *k, 40_000), rng.words(*k, 40_000)) for k in keys)
    out["philox_words_identical"] = bool(same_words)
    for dist, name in ((rng.UNIFORM, "uniform"), (rng.RADEMACHER, "rademacher"), (rng.LAPLACE, "laplace")):
        key = (0, 3, 17, 1024, rng.DATA)
        words = rng.words(*key, 10_000)
        want = np.array([rng.data_variate(np.uint64(h), dist) for h in words])
        got = gpu.stream_variates(device, "data", *key, 10_000, dist=dist)
        out[f"data_{name}"] = {
            "identical_fraction": float(np.mean(got == want)),
            "max_relative_difference": float(np.max(np.abs(got - want) / np.abs(want))),
        }
    key = (0, 3, 17, 1, rng.NOISE)
    want = np.empty(10_000)
    rng.fill_normals(np.uint64(key[0]), np.uint64(key[1]), key[2], key[3], key[4], want, np.empty(4, np.uint64))
    got = gpu.stream_variates(device, "normal", *key, 10_000)
    out["normal"] = {
        "identical_fraction": float(np.mean(got == want)),
        "max_absolute_difference": float(np.max(np.abs(got - want))),
    }
    say(f"  raw Philox4x32-10 words (3 keys x 40000): {'identical' if same_words else 'DIFFERENT'}")
    for name in ("data_uniform", "data_rademacher", "data_laplace"):
        r = out[name]
        say(
            f"  {name:<16} identical {100 * r['identical_fraction']:.2f}%, "
            f"max relative difference {r['max_relative_difference']:.1e}"
        )
    say(
        f"  normals          identical {100 * out['normal']['identical_fraction']:.2f}%, "
        f"max absolute difference {out['normal']['max_absolute_difference']:.1e}  (CUDA's log/sin/cos vs glibc's)"
    )
    return out


def default_objective():
    from saddle.objectives import SpikeTensor

    obj = SpikeTensor(DEFAULT["d"], DEFAULT["dist"])
    return obj, obj.saddle(DEFAULT["s"])


def timed_run(m, n_trials, backend, **extra):
    """(TrialBlock, wall seconds) of the default configuration at batch size m."""
    from saddle.kernels import run_trials

    obj, u0 = default_objective()
    kw = dict(
        optimizer="sgd",
        batch_size=m,
        eta=DEFAULT["eta"],
        sigma_iso=0.0,
        delta=DEFAULT["delta"],
        radius=None,
        max_steps=DEFAULT["max_steps"],
        seed=DEFAULT["seed"],
        trial_start=0,
        n_trials=n_trials,
    )
    if extra:
        from saddle.kernels import gpu

        start = time.perf_counter()
        block = gpu.run_trials_on(gpu.cupy_device(), obj, u0, **kw, **extra)
    else:
        start = time.perf_counter()
        block = run_trials(obj, u0, backend=backend, **kw)
    return block, time.perf_counter() - start


def rate(block, m, wall):
    return float(block.steps.sum()) * m / wall


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100_000, help="GPU trials per throughput run (10^5)")
    parser.add_argument(
        "--compare-trials",
        type=int,
        default=COMPARE_TRIALS,
        help="trials compared one by one with the CPU backend, per m (2000)",
    )
    parser.add_argument(
        "--json", default=str(ROOT / "benchmarks" / "results" / "gpu_check.json"), help="where to write every figure"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    say("saddle: check of the cupy backend (benchmarks/gpu_check.py)")
    if not ensure_cupy():
        say("the cupy backend needs CuPy; it could not be imported or installed here")
        return 2
    from saddle.kernels import gpu

    ok, device_line = gpu.availability()
    if not ok:
        say(device_line)
        return 2
    device = gpu.cupy_device()
    res = {"machine": machine(device_line)}
    mach = res["machine"]
    say(f"GPU: {device_line}")
    say(f"nvidia-smi: {mach['nvidia_smi']}")
    say(
        f"CPU: {mach.get('cpu', '?')}, {mach['cpu_cores']} cores; Python {mach['python']}, NumPy {mach['numpy']}, "
        f"Numba {mach['numba']}; {mach['date']}"
    )

    say("\n1. GPU tests")
    res["tests"] = run_tests()

    say("\n2. random streams, GPU against CPU (saddle.rng)")
    res["streams"] = compare_streams(device)

    import numba
    import numpy as np
    import scipy.stats

    n_compare = args.compare_trials
    say(f"\n3. escape steps, default configuration, first {n_compare} trials on both backends")
    timed_run(1, 64, "cupy")  # compile the GPU build (d = 10) before anything is timed
    gpu_runs = {}
    res["escapes"] = {}
    for m in M_COMPARE:
        cpu_block, _ = timed_run(m, n_compare, "cpu")
        n_gpu = max(args.trials, n_compare) if m in CPU_TRIALS else n_compare
        gpu_block, gpu_wall = timed_run(m, n_gpu, "cupy")
        if m in CPU_TRIALS:
            gpu_runs[m] = (gpu_block, gpu_wall)
        head = gpu_block.steps[:n_compare]
        differ = head != cpu_block.steps
        r = {
            "trials": n_compare,
            "differing_fraction": float(np.mean(differ)),
            "max_step_difference": int(np.max(np.abs(head - cpu_block.steps))),
            "status_identical": bool(np.array_equal(gpu_block.status[:n_compare], cpu_block.status)),
            "ks_pvalue_same_trials": float(scipy.stats.ks_2samp(head, cpu_block.steps).pvalue),
            "ks_pvalue_all_gpu_trials": float(scipy.stats.ks_2samp(gpu_block.steps, cpu_block.steps).pvalue),
            "gpu_trials": int(gpu_block.steps.size),
            "cpu_median": float(np.median(cpu_block.steps)),
            "gpu_median": float(np.median(gpu_block.steps)),
        }
        res["escapes"][str(m)] = r
        say(
            f"  m={m:<5} differing escape steps {100 * r['differing_fraction']:.2f}% (largest "
            f"{r['max_step_difference']}), KS p = {r['ks_pvalue_same_trials']:.3f} (same trials), "
            f"{r['ks_pvalue_all_gpu_trials']:.3f} (all {r['gpu_trials']} GPU trials vs {n_compare} CPU); "
            f"median {r['cpu_median']:.0f} CPU, {r['gpu_median']:.0f} GPU"
        )

    say("\n4. throughput, default configuration (sample-gradients/s = sum of escape steps x m / wall)")
    res["throughput"] = {}
    cores = numba.config.NUMBA_NUM_THREADS
    for m in CPU_TRIALS:
        gpu_block, gpu_wall = gpu_runs[m]
        row = {"gpu_trials": int(gpu_block.steps.size), "gpu_wall_s": gpu_wall, "gpu": rate(gpu_block, m, gpu_wall)}
        for threads in sorted({2, cores}):
            numba.set_num_threads(min(threads, cores))
            timed_run(m, 8, "cpu")
            block, wall = timed_run(m, CPU_TRIALS[m], "cpu")
            row[f"cpu_{threads}_threads"] = rate(block, m, wall)
            row[f"cpu_{threads}_threads_trials"] = CPU_TRIALS[m]
        numba.set_num_threads(cores)
        row["ratio_gpu_to_cpu_2_threads"] = row["gpu"] / row["cpu_2_threads"]
        res["throughput"][str(m)] = row
        say(
            f"  m={m:<5} GPU {row['gpu']:.3g} ({row['gpu_trials']} trials, {gpu_wall:.2f} s); CPU 2 threads "
            f"{row['cpu_2_threads']:.3g}"
            + (f", {cores} threads {row[f'cpu_{cores}_threads']:.3g}" if cores != 2 else "")
            + f" ({CPU_TRIALS[m]} trials: CPU throughput does not depend on the trial count); "
            f"GPU / CPU(2 threads) = {row['ratio_gpu_to_cpu_2_threads']:.0f}x"
        )

    n_builds = min(20_000, args.trials)
    say(f"\n5. escape.cu builds at m = 1024 (GPU, {n_builds} trials)")
    res["builds"] = {}
    default = "exact-length" if DEFAULT["d"] <= gpu.FIXED_DIM_MAX else "workspace"
    for name, extra in (
        ("exact-length", dict(fixed_dim_max=DEFAULT["d"])),
        ("workspace", dict(fixed_dim_max=0)),
        ("generic (no specialisation, workspace)", dict(fixed_dim_max=0, specialise=False)),
    ):
        timed_run(1024, 64, "cupy", **extra)
        block, wall = timed_run(1024, n_builds, "cupy", **extra)
        res["builds"][name] = rate(block, 1024, wall)
        say(
            f"  {name:<40} {res['builds'][name]:.3g} sample-gradients/s"
            + ("  (the default build)" if name == default else "")
        )

    ratio = res["throughput"]["1024"]["ratio_gpu_to_cpu_2_threads"]
    identical = res["streams"]["philox_words_identical"] and all(
        res["streams"][k]["identical_fraction"] == 1.0 for k in ("data_uniform", "data_rademacher")
    )
    verdicts = {
        "GPU tests pass": res["tests"]["returncode"] == 0,
        "random streams identical (words; uniform and rademacher variates)": identical,
        f"m=1024 GPU / 2-thread CPU >= {TARGET_RATIO:.0f}x (measured {ratio:.0f}x)": ratio >= TARGET_RATIO,
    }
    res["verdicts"] = verdicts
    res["total_s"] = time.perf_counter() - start
    say("\nverdicts")
    for text, passed in verdicts.items():
        say(f"  {'PASS' if passed else 'FAIL'}  {text}")
    say(f"whole check: {res['total_s']:.0f} s")
    tp = res["throughput"]
    say("\nfor docs/performance.md:")
    say("| card | date | m | GPU sample-grad/s (10^5 trials) | CPU 2 threads | ratio |")
    say("|---|---|---:|---:|---:|---:|")
    for m in CPU_TRIALS:
        say(
            f"| {device_line.split(',')[0]} | {mach['date'][:10]} | {m} | {tp[str(m)]['gpu']:.3g} | "
            f"{tp[str(m)]['cpu_2_threads']:.3g} | {tp[str(m)]['ratio_gpu_to_cpu_2_threads']:.0f}x |"
        )
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(res, indent=1, default=str) + "\n")
    os.replace(tmp, path)
    say(f"JSON: {path}")
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
