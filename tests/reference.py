"""Slow, obviously correct NumPy versions of what the kernels compute.

Two references, for two different questions:

``reference_trial`` answers "does the kernel compute what SPEC says, with the
random numbers that saddle.rng says?".  It draws the raw 32-bit words from
randomgen's ``Philox(number=4, width=32)`` (key seed, counter
(0, trial, t, purpose * 2**30 + m - 1)), turns them into variates with its own
code, and follows SPEC 2.1, 3 and 4 line by line, one trial at a time.  The
kernel must match it trial by trial.

``independent_escape_steps`` answers "are the escape times right?" without
sharing anything with the package: NumPy's default generator, the ICA model
x = A z with latent variates drawn by numpy.random.Generator, all trials
vectorised.  Its escape-time distribution must agree with the kernel's within
sampling error.
"""

import numpy as np
from randomgen import Philox

KAPPA = {"uniform": -6.0 / 5.0, "rademacher": -2.0, "laplace": 3.0}
ESCAPED, CENSORED, DIVERGED, FROZEN = 0, 1, 2, 3


def philox_words(seed, trial, t, m, purpose, n):
    """The first n 32-bit words (as uint64) of randomgen's Philox4x32-10 with key seed (low word first)
    and counter (0, trial, t, purpose * 2**30 + m - 1), word 0 the lowest."""
    counter = (trial << 32) | (t << 64) | (((purpose << 30) | (m - 1)) << 96)
    return Philox(number=4, width=32, key=seed, counter=counter).random_raw(n)


def uniforms53(words):
    """Open uniforms on (0, 1) from the 64-bit words w[2q] + 2**32 w[2q + 1]: ((W >> 11) + 0.5) 2**-53."""
    w = np.asarray(words, dtype=np.uint64)
    wide = w[0::2] | (w[1::2] << np.uint64(32))
    return ((wide >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53


def latent_from_words(words, dist):
    """Mean-0 variance-1 variates from 32-bit integers, as the SPEC's distributions."""
    words = np.asarray(words, dtype=np.uint64)
    u = (words.astype(np.float64) + 0.5) / 2.0**32
    if dist == "uniform":
        return np.sqrt(3.0) * (2.0 * u - 1.0)
    if dist == "rademacher":
        return np.where(words >= 2**31, -1.0, 1.0)
    if dist == "laplace":
        return np.where(u < 0.5, np.log(2.0 * u), -np.log(2.0 - 2.0 * u)) / np.sqrt(2.0)
    raise ValueError(dist)


def data_batch(seed, trial, t, m, d, dist):
    """The m x d latent sample matrix of step t (coordinate k of sample i is 32-bit word i*d + k)."""
    return _samples(seed, trial, t, m, m, d, dist)


def normals(seed, trial, t, m, purpose, d):
    """d standard normals: Box-Muller on the two 64-bit words (pairs of 32-bit words) of each block,
    r = sqrt(-2 log u0), phi = 2 pi u1, with the log, cos and sin of ``box_muller_arithmetic``."""
    uni = uniforms53(philox_words(seed, trial, t, m, purpose, (d + 1) // 2 * 4))
    return box_muller_arithmetic(uni[0::2], uni[1::2]).ravel()[:d]


# Box-Muller's log, cos and sin by plain arithmetic, operation by operation as saddle.rng's log_unit and
# cos_sin_turn (so equal bit for bit), written from the formulas: log u = e ln 2 + log y (u = 2**e y,
# y in [sqrt 1/2, sqrt 2)), log y = f - f**2/2 + s (f**2/2 + R), f = y - 1, s = f / (2 + f),
# R = sum_k 2 s**(2k) / (2k + 1); the angle 2 pi g by octants, cos and sin of [0, pi/4] by Taylor series.
_LN2_HI = float.fromhex("0x1.62e42fee00000p-1")
_LN2_LO = 1.9082149292705877e-10


def _horner(z, coeffs):
    acc = coeffs[-1]
    for c in coeffs[-2::-1]:
        acc = c + z * acc
    return acc


def box_muller_arithmetic(u0, u1):
    """Rows (r cos 2 pi u1, r sin 2 pi u1), r = sqrt(-2 log u0), for arrays of uniforms on (0, 1]."""
    import math

    u0 = np.asarray(u0, dtype=np.float64)
    bits = u0.view(np.int64)
    e = (bits >> 52) - 1023
    y = ((bits & 0xFFFFFFFFFFFFF) | 0x3FF0000000000000).view(np.float64)
    big = y > math.sqrt(2.0)
    y = np.where(big, 0.5 * y, y)
    e = np.where(big, e + 1, e)
    f = y - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    r = z * _horner(z, [2.0 / (2 * k + 1) for k in range(1, 10)])
    dk = e.astype(np.float64)
    log_u0 = dk * _LN2_HI - ((hfsq - (s * (hfsq + r) + dk * _LN2_LO)) - f)
    radius = np.sqrt(-2.0 * log_u0)

    h = 8.0 * np.asarray(u1, dtype=np.float64)
    o = h.astype(np.int64)
    f = h - o.astype(np.float64)
    odd = (o & 1) == 1
    f = np.where(odd, 1.0 - f, f)
    th = f * (math.pi / 4)
    z = th * th
    sn = th + th * z * _horner(z, [(-1) ** k / math.factorial(2 * k + 1) for k in range(1, 9)])
    cs = 1.0 - (0.5 * z - z * z * _horner(z, [(-1) ** (k + 1) / math.factorial(2 * k + 2) for k in range(1, 9)]))
    x0, y0 = np.where(odd, sn, cs), np.where(odd, cs, sn)
    quarter = (o & 2) != 0
    x1, y1 = np.where(quarter, -y0, x0), np.where(quarter, x0, y0)
    half = (o & 4) != 0
    return np.column_stack([radius * np.where(half, -x1, x1), radius * np.where(half, -y1, y1)])


def tangent_noise(seed, trial, t, m, u, sphere=True):
    """xi uniform on the unit sphere of the tangent space at u (of R^d when not on a sphere)."""
    xi = normals(seed, trial, t, m, 1, u.size)
    if sphere:
        xi = xi - np.dot(u, xi) * u
    return xi / np.linalg.norm(xi)


def spike_f(u, A):
    return -np.sum((A.T @ u) ** 4)


class SpikeTrial:
    """What a reference optimiser step sees of one spike trial (SPEC 2.1): its exact and mini-batch
    gradients, the Riemannian projection and retraction, its noise streams, its options by name."""

    def __init__(self, *, seed, trial, A, dist, options):
        self.seed, self.trial, self.A, self.dist, self.options = seed, trial, A, dist, options
        self.kappa = KAPPA[dist]

    def exact(self, u):
        return -4.0 * self.A @ (self.A.T @ u) ** 3

    def minibatch(self, u, t, m):
        x = data_batch(self.seed, self.trial, t, m, u.size, self.dist) @ self.A.T  # x = A z, one sample per row
        c = x @ u
        return ((12.0 * np.dot(u, u) * u[None, :] - 4.0 * (c**3)[:, None] * x) / self.kappa).mean(axis=0)

    @staticmethod
    def riemannian(u, g):
        return g - np.dot(u, g) * u

    @staticmethod
    def retract(w):
        return w / np.linalg.norm(w)

    def tangent_noise(self, t, m, u):
        return tangent_noise(self.seed, self.trial, t, m, u)

    def perturb_uniform(self, t, m):
        return uniforms53(philox_words(self.seed, self.trial, t, m, 2, 2))[0]


# One NumPy step per optimiser, written from its definition (SPEC 3; the papers): (u, state) at step t
# with batch size m and step size eta -> the new (u, state).  A new optimiser's test adds its own here
# (REFERENCE_STEPS[name] = its step).


def sgd_step(tr, u, state, t, m, eta):
    return tr.retract(u - eta * tr.riemannian(u, tr.minibatch(u, t, m))), state


def gd_step(tr, u, state, t, m, eta):
    return tr.retract(u - eta * tr.riemannian(u, tr.exact(u))), state


def noisy_sgd_step(tr, u, state, t, m, eta):
    p = tr.riemannian(u, tr.minibatch(u, t, m)) + tr.options["sigma_iso"] * tr.tangent_noise(t, m, u)
    return tr.retract(u - eta * p), state


def momentum_step(tr, u, v, t, m, eta):
    v = tr.options["momentum"] * v + tr.riemannian(u, tr.minibatch(u, t, m))
    u = tr.retract(u - eta * v)
    return u, v - np.dot(u, v) * u


def _perturbed(tr, u, t_noise, t, m, eta, stochastic):
    """pgd (stochastic False) and cnc-pgd (True): the gd step, or when ||p|| <= g_thres and more than
    t_thres steps passed since the last one, a ball perturbation first (pgd) or a mini-batch step of
    step size cnc_eta instead (cnc-pgd)."""
    o = tr.options
    p = tr.riemannian(u, tr.exact(u))
    if np.linalg.norm(p) <= o["grad_threshold"] and t - t_noise > o["t_threshold"]:
        t_noise = t
        if stochastic:
            p, eta = tr.riemannian(u, tr.minibatch(u, t, m)), o["cnc_eta"]
        else:  # uniform in the tangent ball of radius r
            radius_factor = tr.perturb_uniform(t, m)
            u = tr.retract(
                u + o["perturbation_radius"] * radius_factor ** (1.0 / (u.size - 1)) * tr.tangent_noise(t, m, u)
            )
            p = tr.riemannian(u, tr.exact(u))
    return tr.retract(u - eta * p), t_noise


def pgd_step(tr, u, t_noise, t, m, eta):
    return _perturbed(tr, u, t_noise, t, m, eta, stochastic=False)


def cnc_pgd_step(tr, u, t_noise, t, m, eta):
    return _perturbed(tr, u, t_noise, t, m, eta, stochastic=True)


REFERENCE_STEPS = {
    "sgd": (sgd_step, lambda d: None),
    "gd": (gd_step, lambda d: None),
    "noisy-sgd": (noisy_sgd_step, lambda d: None),
    "momentum": (momentum_step, np.zeros),
    "pgd": (pgd_step, lambda d: -(2**62)),
    "cnc-pgd": (cnc_pgd_step, lambda d: -(2**62)),
}
"""name -> (step, its initial state for a state of length d)."""


def reference_trial(
    *,
    seed,
    trial,
    u0,
    A,
    dist,
    optimizer,
    m,
    eta,
    sigma_iso,
    delta,
    radius,
    max_steps,
    lr_decay=0.0,
    m_after=0,
    target=None,
    schedule=None,
    samples_per_m=1,
    **options,
):
    """One escape trial by docs/objectives.md (the spike), the optimiser's step and docs/escape.md's
    criteria; returns (steps, status, final_f, f along the way).

    The optimiser's step is REFERENCE_STEPS[optimizer], its options (momentum, perturbation_radius,
    grad_threshold, t_threshold, cnc_eta, ...) given by name.  Schedules: ``schedule`` (a
    saddle.schedules.Schedule), or the older step size eta / (1 + t / lr_decay) and m_after samples a
    step after the first f-drop by delta; with a target the trial ends at f <= target (the first
    f-drop step is then fs.drop, the batch switch's step fs.switch).  Written from the schedules'
    definitions (saddle/schedules: a trigger fired at the end of step t_s acts from step t_s + 1, tau =
    t - t_s; the budget counts the samples of the steps after the f-drop), not from the kernel.
    """
    from saddle.schedules import Schedule, legacy

    plan = schedule if schedule is not None else legacy(lr_decay or None, m_after or None)
    assert isinstance(plan, Schedule)
    step_of, initial = REFERENCE_STEPS[optimizer]
    tr = SpikeTrial(seed=seed, trial=trial, A=A, dist=dist, options=dict(options, sigma_iso=sigma_iso))
    u = u0.copy()
    state = initial(u.size)
    f0 = spike_f(u, A)
    fs = [f0]
    f = f0
    dropped = 0
    spent = 0

    def fires(rule, t, f):
        if rule is None:
            return None
        kind, value = rule.trigger.kind, rule.trigger.value
        if (
            kind == "start"
            or (kind == "drop" and dropped)
            or (kind == "step" and t >= value)
            or (kind == "f" and f <= value)
        ):
            return dropped if kind == "drop" else t
        return None

    m_at, eta_at = fires(plan.batch, 0, f0), fires(plan.step, 0, f0)
    for t in range(1, max_steps + 1):
        if m_at is not None:
            m = plan.batch.m
        step = eta * float(plan.step.factor(t - eta_at)) if eta_at is not None else eta
        if dropped:
            spent += m * samples_per_m
        u, state = step_of(tr, u, state, t, m, step)
        f = spike_f(u, A)
        fs.append(f)
        if not np.isfinite(f):
            return t, DIVERGED, f, fs
        if not dropped and f <= f0 - delta:
            dropped = t
        m_at = fires(plan.batch, t, f) if m_at is None else m_at
        eta_at = fires(plan.step, t, f) if eta_at is None else eta_at
        trace = _Trace(fs, dropped, m_at or 0)
        if target is not None:
            if f <= target:
                return t, ESCAPED, f, trace
        elif radius is not None:
            if np.linalg.norm(u - u0) >= radius:
                return t, ESCAPED, f, fs
        elif not plan.budget and f <= f0 - delta:
            return t, ESCAPED, f, fs
        if plan.budget and spent >= plan.budget:
            return t, CENSORED, f, trace
    return max_steps, CENSORED, f, _Trace(fs, dropped, m_at or 0)


class _Trace(list):
    """f along the way, with the first f-drop step as ``drop`` and the batch switch's as ``switch``."""

    def __init__(self, fs, drop, switch=0):
        super().__init__(fs)
        self.drop = drop
        self.switch = switch


def reference_quadratic_trial(*, seed, trial, h, beta, Sigma, optimizer, m, eta, sigma_iso, delta, radius, max_steps):
    """One escape trial on f(x) = 1/2 sum h_i x_i^2 + beta/4 ||x||^4 from x = 0 (SPEC 2.3).

    The mean of m per-sample noises N(0, Sigma) is drawn as L xi / sqrt(m), xi the d normals of the
    DATA stream of step t, L the Cholesky factor of Sigma.
    """
    d = h.size
    L = np.linalg.cholesky(Sigma)
    x = np.zeros(d)
    f = lambda y: 0.5 * np.dot(h * y, y) + 0.25 * beta * np.dot(y, y) ** 2  # noqa: E731
    f0 = f(x)
    fs = [f0]
    for t in range(1, max_steps + 1):
        g = h * x + beta * np.dot(x, x) * x
        if optimizer != "gd":
            g = g + L @ normals(seed, trial, t, m, 0, d) / np.sqrt(m)
        if optimizer == "noisy-sgd":
            g = g + sigma_iso * tangent_noise(seed, trial, t, m, x, sphere=False)
        x = x - eta * g
        fx = f(x)
        fs.append(fx)
        if not np.isfinite(fx):
            return t, DIVERGED, fx, fs
        if radius is not None:
            if np.linalg.norm(x) >= radius:
                return t, ESCAPED, fx, fs
        elif fx <= f0 - delta:
            return t, ESCAPED, fx, fs
    return max_steps, CENSORED, fx, fs


def reference_octopus_trial(
    *,
    seed,
    trial,
    octopus,
    optimizer,
    m,
    eta,
    delta,
    max_steps,
    sigma_iso=0.0,
    r=0.0,
    g_thres=0.0,
    t_thres=0,
    random_start=False,
    target=None,
):
    """One trial on Du et al.'s octopus (SPEC 2.4) on R^d with f and grad f of its NumPy class.

    Starts at saddle 1 (x = 0) or, with random_start, at 2 w - 1 for w the open uniforms of the first d
    words of the START stream of step 0.  sgd / noisy-sgd add sqrt(noise_var / m) xi (xi: the normals
    of the DATA stream); pgd perturbs uniformly in the ball of radius r (direction: the NOISE stream's
    normals, radius r U^(1/d) with U from the PERTURB stream); gd whose step leaves x unchanged bit for
    bit is frozen.
    """
    d = octopus.d
    x = octopus.start()
    if random_start:
        x = 2.0 * uniforms53(philox_words(seed, trial, 0, m, 3, 2 * d)) - 1.0
    f0 = octopus.f(x)
    fs = [f0]
    t_noise = -(2**62)
    for t in range(1, max_steps + 1):
        g = octopus.egrad(x)
        if optimizer in ("sgd", "noisy-sgd"):
            g = g + (1.0 / np.sqrt(m)) * np.sqrt(octopus.noise_var) * normals(seed, trial, t, m, 0, d)
        if optimizer == "pgd" and np.linalg.norm(g) <= g_thres and t - t_noise > t_thres:
            t_noise = t
            radius_factor = uniforms53(philox_words(seed, trial, t, m, 2, 2))[0]
            x = x + r * radius_factor ** (1.0 / d) * tangent_noise(seed, trial, t, m, x, sphere=False)
            g = octopus.egrad(x)
        if optimizer == "noisy-sgd":
            g = g + sigma_iso * tangent_noise(seed, trial, t, m, x, sphere=False)
        previous = x
        x = x - eta * g
        fx = octopus.f(x)
        fs.append(fx)
        if not np.isfinite(fx):
            return t, DIVERGED, fx, fs
        if target is not None:
            if fx <= target:
                return t, ESCAPED, fx, fs
        elif fx <= f0 - delta:
            return t, ESCAPED, fx, fs
        if optimizer == "gd" and np.array_equal(x, previous):
            return t, FROZEN, fx, fs
    return max_steps, CENSORED, fx, fs


def reference_ge2015_trial(
    *, seed, trial, U0, A, dist, sampling, optimizer, m, eta, sigma_iso, delta, radius, max_steps
):
    """One escape trial of ge2015 (SPEC 2.2) on the product of k spheres, U as a d x k array.

    Shared sampling uses samples 0..m-1 of the step's DATA stream for every column; per-column
    sampling gives column i the samples i m .. (i + 1) m - 1.
    """
    d, k = U0.shape
    kappa = KAPPA[dist]

    def f(U):
        C2 = (A.T @ U) ** 2
        return np.sum(np.sum(C2, axis=1) ** 2 - np.sum(C2**2, axis=1))

    def per_sample(U, x, i):  # column i's gradient for each row of x
        c = x @ U
        S = np.sum(c**2, axis=1)
        n = np.sum(U**2, axis=0)
        cross = sum(np.dot(U[:, i], U[:, j]) * U[:, j] for j in range(k) if j != i)
        data = (c[:, i] * (S - c[:, i] ** 2))[:, None] * x
        return 4.0 / kappa * (data - (n.sum() - n[i]) * U[:, i] - 2.0 * cross)

    U = U0.copy()
    f0 = f(U)
    fs = [f0]
    for t in range(1, max_steps + 1):
        if optimizer == "gd":
            C = A.T @ U
            G = 4.0 * A @ (C * (np.sum(C**2, axis=1, keepdims=True) - C**2))
        else:
            per_column = sampling == "per-column"
            X = _samples(seed, trial, t, m, k * m if per_column else m, d, dist) @ A.T
            G = np.column_stack(
                [per_sample(U, X[i * m : (i + 1) * m] if per_column else X, i).mean(axis=0) for i in range(k)]
            )
        P = G - U * np.sum(U * G, axis=0, keepdims=True)
        if optimizer == "noisy-sgd":
            xi = normals(seed, trial, t, m, 1, d * k).reshape(k, d).T
            xi = xi - U * np.sum(U * xi, axis=0, keepdims=True)
            P = P + sigma_iso * xi / np.linalg.norm(xi)
        W = U - eta * P
        U = W / np.linalg.norm(W, axis=0, keepdims=True)
        fu = f(U)
        fs.append(fu)
        if not np.isfinite(fu):
            return t, DIVERGED, fu, fs
        if radius is not None:
            if np.linalg.norm(U - U0) >= radius:
                return t, ESCAPED, fu, fs
        elif fu <= f0 - delta:
            return t, ESCAPED, fu, fs
    return max_steps, CENSORED, fu, fs


def _samples(seed, trial, t, m, n_samples, d, dist):
    """n_samples x d latent samples of step t (sample q, coordinate r = 32-bit word q d + r)."""
    return latent_from_words(philox_words(seed, trial, t, m, 0, n_samples * d), dist).reshape(n_samples, d)


def independent_escape_steps(*, d, s, dist, eta, m, delta, trials, max_steps, rng, chunk=250):
    """Escape steps of mini-batch SGD at the spike saddle, simulated without the package.

    All trials advance together; non-escaped trials are returned as max_steps + 1.
    """
    kappa = KAPPA[dist]
    out = np.empty(trials)
    for lo in range(0, trials, chunk):
        n = min(chunk, trials - lo)
        u = np.zeros((n, d))
        u[:, :s] = 1.0 / np.sqrt(s)
        f0 = -1.0 / s
        tau = np.full(n, max_steps + 1.0)
        alive = np.arange(n)
        for t in range(1, max_steps + 1):
            ua = u[alive]
            if dist == "uniform":
                x = rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), size=(alive.size, m, d))
            elif dist == "rademacher":
                x = rng.choice([-1.0, 1.0], size=(alive.size, m, d))
            else:
                x = rng.laplace(0.0, 1.0 / np.sqrt(2.0), size=(alive.size, m, d))
            c = np.einsum("tmd,td->tm", x, ua)
            g = (12.0 * ua - 4.0 * np.einsum("tm,tmd->td", c**3, x) / m) / kappa
            p = g - np.sum(ua * g, axis=1, keepdims=True) * ua
            w = ua - eta * p
            ua = w / np.linalg.norm(w, axis=1, keepdims=True)
            u[alive] = ua
            done = -np.sum(ua**4, axis=1) <= f0 - delta
            tau[alive[done]] = t
            alive = alive[~done]
            if alive.size == 0:
                break
        out[lo : lo + n] = tau
    return out
