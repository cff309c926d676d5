"""Slow, obviously correct NumPy versions of what the kernels compute.

Two references, for two different questions:

``reference_trial`` answers "does the kernel compute what SPEC says, with the
random numbers that saddle.rng says?".  It draws the raw 64-bit words from
NumPy's own ``numpy.random.Philox`` (key (seed, trial), counter
(0, t, m, purpose)), turns them into variates with its own code, and follows
SPEC 2.1, 3 and 4 line by line, one trial at a time.  The kernel must match it
trial by trial.

``independent_escape_steps`` answers "are the escape times right?" without
sharing anything with the package: NumPy's default generator, the ICA model
x = A z with latent variates drawn by numpy.random.Generator, all trials
vectorised.  Its escape-time distribution must agree with the kernel's within
sampling error.
"""

import numpy as np

KAPPA = {"uniform": -6.0 / 5.0, "rademacher": -2.0, "laplace": 3.0}
ESCAPED, CENSORED, DIVERGED, FROZEN = 0, 1, 2, 3


def philox_words(seed, trial, t, m, purpose, n):
    """The first n words of NumPy's Philox with key (seed, trial), counter (0, t, m, purpose)."""
    bitgen = np.random.Philox(
        key=np.array([seed, trial], dtype=np.uint64),
        counter=np.array([0, t, m, purpose], dtype=np.uint64),
    )
    return bitgen.random_raw(n)


def latent_from_halves(halves, dist):
    """Mean-0 variance-1 variates from 32-bit integers, as the SPEC's distributions."""
    h = halves.astype(np.float64)
    u = (h + 0.5) / 2.0**32
    if dist == "uniform":
        return np.sqrt(3.0) * (2.0 * u - 1.0)
    if dist == "rademacher":
        return np.where(halves >= 2**31, -1.0, 1.0)
    if dist == "laplace":
        return np.where(u < 0.5, np.log(2.0 * u), -np.log(2.0 - 2.0 * u)) / np.sqrt(2.0)
    raise ValueError(dist)


def data_batch(seed, trial, t, m, d, dist):
    """The m x d latent sample matrix of step t (coordinate k of sample i is half-word i*d + k)."""
    return _samples(seed, trial, t, m, m, d, dist)


def normals(seed, trial, t, m, purpose, d):
    """d standard normals: Box-Muller on consecutive pairs of 64-bit words of the stream."""
    words = philox_words(seed, trial, t, m, purpose, (d + 3) // 4 * 4)
    uni = ((words >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    r = np.sqrt(-2.0 * np.log(uni[0::2]))
    phi = 2.0 * np.pi * uni[1::2]
    return np.column_stack([r * np.cos(phi), r * np.sin(phi)]).ravel()[:d]


def tangent_noise(seed, trial, t, m, u, sphere=True):
    """xi uniform on the unit sphere of the tangent space at u (of R^d when not on a sphere)."""
    xi = normals(seed, trial, t, m, 1, u.size)
    if sphere:
        xi = xi - np.dot(u, xi) * u
    return xi / np.linalg.norm(xi)


def spike_f(u, A):
    return -np.sum((A.T @ u) ** 4)


def reference_trial(*, seed, trial, u0, A, dist, optimizer, m, eta, sigma_iso, delta, radius, max_steps,
                    momentum=0.0, r=0.0, g_thres=0.0, t_thres=0, cnc_eta=0.0, lr_decay=0.0, m_after=0,
                    target=None):
    """One escape trial by SPEC 2.1, 3 and 4; returns (steps, status, final_f, f along the way).

    Schedules: step size eta / (1 + t / lr_decay); after the first f-drop by delta, m_after samples a
    step; with a target the trial ends at f <= target (the first f-drop step is then fs.drop).
    """
    kappa = KAPPA[dist]

    def exact(u):
        return -4.0 * A @ (A.T @ u) ** 3

    def minibatch(u, t):
        x = data_batch(seed, trial, t, m, u.size, dist) @ A.T  # x = A z, one sample per row
        c = x @ u
        return ((12.0 * np.dot(u, u) * u[None, :] - 4.0 * (c**3)[:, None] * x) / kappa).mean(axis=0)

    def riemannian(u, g):
        return g - np.dot(u, g) * u

    u = u0.copy()
    f0 = spike_f(u, A)
    fs = [f0]
    f = f0
    v = np.zeros_like(u)
    t_noise = -(2**62)
    dropped = 0
    for t in range(1, max_steps + 1):
        if dropped and m_after:
            m = m_after
        step = eta / (1.0 + t / lr_decay) if lr_decay else eta
        g = exact(u) if optimizer in ("gd", "pgd", "cnc-pgd") else minibatch(u, t)
        p = riemannian(u, g)
        if optimizer in ("pgd", "cnc-pgd") and np.linalg.norm(p) <= g_thres and t - t_noise > t_thres:
            t_noise = t
            if optimizer == "pgd":  # uniform in the tangent ball of radius r
                radius_factor = ((philox_words(seed, trial, t, m, 2, 4)[0] >> np.uint64(11)).astype(float) + 0.5) / 2.0**53
                xi = r * radius_factor ** (1.0 / (u.size - 1)) * tangent_noise(seed, trial, t, m, u)
                w = u + xi
                u = w / np.linalg.norm(w)
                p = riemannian(u, exact(u))
            else:
                p = riemannian(u, minibatch(u, t))
                step = cnc_eta
        if optimizer == "noisy-sgd":
            p = p + sigma_iso * tangent_noise(seed, trial, t, m, u)
        if optimizer == "momentum":
            v = momentum * v + p
            w = u - step * v
            u = w / np.linalg.norm(w)
            v = v - np.dot(u, v) * u
        else:
            w = u - step * p
            u = w / np.linalg.norm(w)
        f = spike_f(u, A)
        fs.append(f)
        if not np.isfinite(f):
            return t, DIVERGED, f, fs
        if not dropped and f <= f0 - delta:
            dropped = t
        if target is not None:
            if f <= target:
                return t, ESCAPED, f, _Trace(fs, dropped)
        elif radius is not None:
            if np.linalg.norm(u - u0) >= radius:
                return t, ESCAPED, f, fs
        elif f <= f0 - delta:
            return t, ESCAPED, f, fs
    return max_steps, CENSORED, f, _Trace(fs, dropped)


class _Trace(list):
    """f along the way, with the first f-drop step as ``drop``."""

    def __init__(self, fs, drop):
        super().__init__(fs)
        self.drop = drop


def reference_quadratic_trial(*, seed, trial, h, beta, Sigma, optimizer, m, eta, sigma_iso, delta, radius,
                              max_steps):
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


def reference_octopus_trial(*, seed, trial, octopus, optimizer, m, eta, delta, max_steps, sigma_iso=0.0, r=0.0,
                            g_thres=0.0, t_thres=0, random_start=False, target=None):
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
        words = philox_words(seed, trial, 0, m, 3, (d + 3) // 4 * 4)[:d]
        x = 2.0 * (((words >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53) - 1.0
    f0 = octopus.f(x)
    fs = [f0]
    t_noise = -(2**62)
    for t in range(1, max_steps + 1):
        g = octopus.egrad(x)
        if optimizer in ("sgd", "noisy-sgd"):
            g = g + (1.0 / np.sqrt(m)) * np.sqrt(octopus.noise_var) * normals(seed, trial, t, m, 0, d)
        if optimizer == "pgd" and np.linalg.norm(g) <= g_thres and t - t_noise > t_thres:
            t_noise = t
            radius_factor = ((philox_words(seed, trial, t, m, 2, 4)[0] >> np.uint64(11)).astype(float) + 0.5) / 2.0**53
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


def reference_ge2015_trial(*, seed, trial, U0, A, dist, sampling, optimizer, m, eta, sigma_iso, delta, radius,
                           max_steps):
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
            G = np.column_stack([per_sample(U, X[i * m : (i + 1) * m] if per_column else X, i).mean(axis=0)
                                 for i in range(k)])
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
    """n_samples x d latent samples of step t (sample q, coordinate r = half-word q d + r)."""
    n_half = n_samples * d
    words = philox_words(seed, trial, t, m, 0, (n_half + 7) // 8 * 4)
    halves = np.empty(2 * words.size, dtype=np.uint64)
    halves[0::2] = words & np.uint64(0xFFFFFFFF)
    halves[1::2] = words >> np.uint64(32)
    return latent_from_halves(halves[:n_half], dist).reshape(n_samples, d)


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
