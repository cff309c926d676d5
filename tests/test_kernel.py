"""The Numba kernel equals the NumPy reference trial by trial, and gd is the exact control."""

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from saddle.kernels import CENSORED, ESCAPED, FROZEN, Recorder, run_trials
from saddle.objectives import SpikeTensor
from tests.reference import reference_trial

CASES = [
    # dist, optimizer, m, eta, sigma_iso, rotated, radius
    ("uniform", "sgd", 1, 0.05, 0.0, False, None),
    ("uniform", "sgd", 7, 0.05, 0.0, True, None),
    ("rademacher", "sgd", 3, 0.05, 0.0, False, None),
    ("laplace", "sgd", 5, 0.03, 0.0, True, None),
    ("uniform", "noisy-sgd", 4, 0.05, 0.3, False, None),
    ("rademacher", "noisy-sgd", 2, 0.05, 0.5, True, None),
    ("uniform", "sgd", 16, 0.05, 0.0, False, 0.3),
    ("laplace", "sgd", 37, 0.05, 0.0, True, None),  # 185 words: a tile that ends inside a Philox block
    ("rademacher", "noisy-sgd", 64, 0.05, 0.2, False, None),
    ("laplace", "gd", 1, 0.05, 0.0, True, None),
]


def _kernel_and_reference(
    dist, optimizer, m, eta, sigma_iso, rotated, radius, *, d=5, s=2, trials=10, max_steps=400, seed=3, delta=0.1
):
    A = scipy.stats.ortho_group.rvs(d, random_state=seed) if rotated else None
    obj = SpikeTensor(d, dist, A)
    u0 = obj.saddle(s)
    if optimizer == "gd":  # start slightly off the saddle, or gd never moves
        u0 = obj.manifold.retract(u0, 1e-3 * obj.manifold.random_tangent(u0, np.random.default_rng(seed)))
    rec = Recorder.empty(trials, 1024)
    block = run_trials(
        obj,
        u0,
        optimizer=optimizer,
        batch_size=m,
        eta=eta,
        sigma_iso=sigma_iso,
        delta=delta,
        radius=radius,
        max_steps=max_steps,
        seed=seed,
        trial_start=0,
        n_trials=trials,
        recorder=rec,
    )
    refs = [
        reference_trial(
            seed=seed,
            trial=n,
            u0=u0,
            A=obj.A,
            dist=dist,
            optimizer=optimizer,
            m=m,
            eta=eta,
            sigma_iso=sigma_iso,
            delta=delta,
            radius=radius,
            max_steps=max_steps,
        )
        for n in range(trials)
    ]
    return block, rec, refs


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c[0]}-{c[1]}-m{c[2]}{'-rot' if c[5] else ''}{'-radius' if c[6] else ''}" for c in CASES]
)
def test_kernel_matches_reference_trial_by_trial(case):
    block, rec, refs = _kernel_and_reference(*case)
    ref_steps = np.array([r[0] for r in refs])
    ref_status = np.array([r[1] for r in refs])
    ref_f = np.array([r[2] for r in refs])
    np.testing.assert_array_equal(block.steps, ref_steps)
    np.testing.assert_array_equal(block.status, ref_status)
    np.testing.assert_allclose(block.final_f, ref_f, rtol=1e-9, atol=1e-12)
    assert np.count_nonzero(block.status == ESCAPED) >= 5, "the case should exercise escapes"
    # the recorded trajectory is f(u_t) at t = i * stride
    for n, (_, _, _, fs) in enumerate(refs):
        t, f = rec.trajectory(n)
        np.testing.assert_allclose(f, np.asarray(fs)[t], rtol=1e-9, atol=1e-12)


def test_recorder_keeps_bounded_memory_and_halves_its_resolution():
    obj = SpikeTensor(4)
    rec = Recorder.empty(2, 8)
    block = run_trials(
        obj,
        obj.saddle(2),
        optimizer="sgd",
        batch_size=1,
        eta=1e-8,
        sigma_iso=0.0,
        delta=0.1,
        radius=None,
        max_steps=100,
        seed=0,
        trial_start=0,
        n_trials=3,
        recorder=rec,
    )
    assert np.all(block.status == CENSORED)
    for r in range(2):
        t, f = rec.trajectory(r)
        assert len(t) <= 8 and t[0] == 0 and np.all(np.diff(t) == rec.stride[r])
        assert t[-1] + rec.stride[r] > 100  # it covers the whole run
        np.testing.assert_allclose(f, -0.5, atol=1e-9)  # sgd with eta = 1e-8: f moves by about 1e-12


@given(d=st.integers(2, 12), data=st.data())
def test_gd_started_exactly_at_a_saddle_never_escapes(d, data):
    """The control (SPEC 3): the exact gradient vanishes at u_0, so gd stays there for ever: its first
    step leaves u_0 unchanged (frozen) or moves it by round-off only (censored), never escaping."""
    s = data.draw(st.integers(2, d))
    obj = SpikeTensor(d, data.draw(st.sampled_from(["uniform", "rademacher", "laplace"])))
    block = run_trials(
        obj,
        obj.saddle(s),
        optimizer="gd",
        batch_size=1,
        eta=0.05,
        sigma_iso=0.0,
        delta=1e-3,
        radius=None,
        max_steps=2000,
        seed=0,
        trial_start=0,
        n_trials=2,
    )
    assert np.all((block.status == CENSORED) | (block.status == FROZEN))
    np.testing.assert_allclose(block.final_f, -1.0 / s, rtol=1e-14)


def test_sgd_escapes_from_the_same_saddle():
    obj = SpikeTensor(6)
    block = run_trials(
        obj,
        obj.saddle(2),
        optimizer="sgd",
        batch_size=8,
        eta=0.05,
        sigma_iso=0.0,
        delta=0.1,
        radius=None,
        max_steps=2000,
        seed=0,
        trial_start=0,
        n_trials=20,
    )
    assert np.all(block.status == ESCAPED)
    assert np.all(block.final_f <= -0.5 - 0.1)


def test_random_starts_are_uniform_on_the_sphere_and_reproducible():
    """gd with eta = 0 keeps each trial at its random start: norms 1, and (u_1 + 1)/2 follows
    Beta((d-1)/2, (d-1)/2) (KS test, 2000 trials, level 0.001); chunking does not change them."""
    d = 6
    obj = SpikeTensor(d)
    kw = dict(
        optimizer="gd",
        batch_size=1,
        eta=0.0,
        sigma_iso=0.0,
        delta=0.1,
        radius=None,
        max_steps=1,
        seed=8,
        random_start=True,
        keep_final_u=True,
    )
    whole = run_trials(obj, obj.saddle(2), trial_start=0, n_trials=2000, **kw)
    U = whole.final_u
    np.testing.assert_allclose(np.linalg.norm(U, axis=1), 1.0, rtol=1e-14)
    law = scipy.stats.beta((d - 1) / 2, (d - 1) / 2)
    assert scipy.stats.kstest((U[:, 0] + 1) / 2, law.cdf).pvalue > 1e-3
    part = run_trials(obj, obj.saddle(2), trial_start=1500, n_trials=500, **kw)
    np.testing.assert_array_equal(part.final_u, U[1500:])


def test_target_criterion_is_the_f_drop_measured_from_zero():
    """On the quadratic (f(0) = 0), escape at f <= -0.2 is the f-drop criterion with delta = 0.2."""
    from saddle.objectives import QuadraticSaddle

    obj = QuadraticSaddle(3)
    kw = dict(
        optimizer="sgd",
        batch_size=4,
        eta=0.05,
        sigma_iso=0.0,
        radius=None,
        max_steps=3000,
        seed=1,
        trial_start=0,
        n_trials=50,
    )
    by_target = run_trials(obj, obj.start(), delta=1.0, target=-0.2, **kw)
    by_delta = run_trials(obj, obj.start(), delta=0.2, **kw)
    np.testing.assert_array_equal(by_target.steps, by_delta.steps)
    assert np.all(by_target.final_f <= -0.2)


def test_perturbed_starts_lie_at_the_given_geodesic_radius_around_u0():
    obj = SpikeTensor(6)
    u0 = obj.saddle(3)
    out = run_trials(
        obj,
        u0,
        optimizer="gd",
        batch_size=1,
        eta=0.0,
        sigma_iso=0.0,
        delta=0.1,
        radius=None,
        max_steps=1,
        seed=2,
        trial_start=0,
        n_trials=300,
        start_perturbation=0.05,
        keep_final_u=True,
    )
    U = out.final_u
    np.testing.assert_allclose(np.linalg.norm(U, axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(np.arccos(U @ u0), np.arctan(0.05), rtol=1e-9)  # R_u(r xi) = (u + r xi)/sqrt(1 + r^2)
    directions = U - np.outer(U @ u0, u0)
    assert np.abs(directions.mean(axis=0)).max() < 5 * 0.05 / np.sqrt(300)  # no preferred direction (5 sigma)


def test_each_optimizer_has_its_own_kernel_reading_its_options_from_the_run_record():
    """One compiled kernel per (objective, optimiser), memoised; the run record carries the generic
    fields and exactly the optimiser's own options, by name."""
    from saddle import optimizers
    from saddle.kernels import cpu
    from saddle.kernels.record import RUN_FIELDS, record_dtype, run_record
    from saddle.schedules import Schedule

    obj = SpikeTensor(6)
    sgd, momentum = optimizers.get("sgd"), optimizers.get("momentum")
    assert cpu.kernel_for(obj.kernel, sgd) is cpu.kernel_for(obj.kernel, sgd)
    assert cpu.kernel_for(obj.kernel, sgd) is not cpu.kernel_for(obj.kernel, momentum)
    generic = [name for name, _ in RUN_FIELDS]
    assert list(record_dtype(sgd).names) == generic
    assert list(record_dtype(momentum).names) == generic + ["momentum"]
    assert record_dtype(optimizers.get("pgd"))["t_threshold"] == np.int64
    values = dict(seed=5, objective=0, manifold=0, m=4, eta=0.05, delta=0.1, radius=0.0, target=np.nan)
    values.update(random_start=0.0, max_steps=30, momentum=0.5)
    values.update(Schedule().fields())
    record = run_record(momentum, values)
    assert record.shape == (1,) and record[0]["momentum"] == 0.5 and record[0]["seed"] == 5
    with pytest.raises(KeyError, match="eta"):
        run_record(sgd, {k: v for k, v in values.items() if k != "eta"})


def test_borrowed_views_share_their_data_and_count_no_references():
    """The step loop's arrays (saddle.kernels.cpu.borrowed) are views of their owners' memory: what is
    written through the view is read back from the owner, kept alive to the end (keep_alive)."""
    import numba

    from saddle.kernels.cpu import borrowed, keep_alive

    @numba.njit
    def fill(n):
        owner = np.zeros(n)
        view = borrowed(owner)
        for k in range(n):
            view[k] = k + 0.5
        total = 0.0
        for k in range(n):
            total += owner[k]
        keep_alive((owner,))
        return total, view.shape[0]

    assert fill(8) == (sum(k + 0.5 for k in range(8)), 8)
