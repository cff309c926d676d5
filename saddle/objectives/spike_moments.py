"""The spike's data and its moments, exactly (docs/objectives.md, docs/theory.md): the ICA model's distributions and the
noise moments of the per-sample gradient.

At the order-s saddle u_0 = (a_1 + ... + a_s) / sqrt(s) the per-sample gradient's moments are
polynomials in the latent moments of the data distribution, computed here as exact Fractions, so a
zero (rademacher at s = 2, where the CNC condition fails) is exactly 0.  The spike objective
(:mod:`saddle.objectives.spike`) builds on this module, never the reverse: its
:func:`~saddle.objectives.spike.spike_saddle` turns these moments into the
:class:`saddle.theory.SaddleQuantities` the linear theory needs.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from saddle import rng

# ----------------------------------------------------------------------------------------------
# 1. The data distributions of the ICA model x = A z
# ----------------------------------------------------------------------------------------------

DISTRIBUTIONS = {
    # name: (kernel code, excess kurtosis kappa)
    "uniform": (rng.UNIFORM, -6.0 / 5.0),
    "rademacher": (rng.RADEMACHER, -2.0),
    "laplace": (rng.LAPLACE, 3.0),
}
"""Data distributions of the ICA model, each with mean 0, variance 1 and its kappa."""

_KAPPA_ZERO = ("gaussian", "normal", "gauss")


def data_distribution(name: str) -> tuple[int, float]:
    """(kernel code, kappa) of a data distribution, or a ValueError with a clear message."""
    key = str(name).lower()
    if key in _KAPPA_ZERO:
        raise ValueError(
            f"data distribution {name!r} has excess kurtosis kappa = 0 and carries no tensor "
            f"(E[(u.x)^4] = 3||u||^4 for every u); choose one of {', '.join(DISTRIBUTIONS)}"
        )
    if key not in DISTRIBUTIONS:
        raise ValueError(f"unknown data distribution {name!r}; choose one of {', '.join(DISTRIBUTIONS)}")
    return DISTRIBUTIONS[key]


# ----------------------------------------------------------------------------------------------
# 2. Saddle quantities: exact noise moments for the spike
# ----------------------------------------------------------------------------------------------


def latent_moment(dist: str, n: int) -> Fraction:
    """E[z^n] of one latent coordinate of the ICA model, as an exact Fraction.

    Odd moments vanish; E[z^{2k}] = 3^k / (2k + 1) (uniform on [-sqrt3, sqrt3]),
    1 (rademacher), (2k)! / 2^k (laplace with scale 1/sqrt2).
    """
    data_distribution(dist)
    if n % 2:
        return Fraction(0)
    k = n // 2
    key = str(dist).lower()
    if key == "uniform":
        return Fraction(3**k, 2 * k + 1)
    if key == "rademacher":
        return Fraction(1)
    return Fraction(math.factorial(2 * k), 2**k)  # laplace


def latent_cumulants(dist: str) -> tuple[float, float, float]:
    """(kappa_4, kappa_6, kappa_8): the 4th, 6th and 8th cumulants of one latent coordinate (mean 0,
    variance 1, symmetric), from its exact moments mu_n (:func:`latent_moment`):

        kappa_4 = mu_4 - 3,   kappa_6 = mu_6 - 15 mu_4 + 30,
        kappa_8 = mu_8 - 28 kappa_6 - 35 kappa_4^2 - 210 kappa_4 - 105.

    kappa_4 is the excess kurtosis kappa.  Uniform: -6/5, 48/7, -432/5; rademacher: -2, 16, -272;
    laplace: 3, 30, 630.
    """
    mu = [latent_moment(dist, n) for n in (4, 6, 8)]
    k4 = mu[0] - 3
    k6 = mu[1] - 15 * mu[0] + 30
    k8 = mu[2] - 28 * k6 - 35 * k4 * k4 - 210 * k4 - 105
    return float(k4), float(k6), float(k8)


def _series_pow_product(factors: list[list[Fraction]], degree: int) -> list[Fraction | int]:
    """Product of truncated power series (lists of coefficients), exact for Fractions or floats."""
    out: list[Fraction | int] = [Fraction(1), *[Fraction(0)] * degree]
    for fac in factors:
        new: list[Fraction | int] = [0] * (degree + 1)
        for i, a in enumerate(out):
            if a:
                for j in range(degree + 1 - i):
                    new[i + j] += a * fac[j]
        out = new
    return out


def spike_noise_moments(s: int, dist: str) -> dict[str, Fraction]:
    """Exact moments of the spike's per-sample gradient at the order-s saddle, frame A = I.

    With c = u_0 . z = (z_1 + ... + z_s) / sqrt(s) and independent coordinates,

        D = E[c^6 z_1^2],  O = E[c^6 z_1 z_2],  E3 = E[c^3 z_1],  E6 = E[c^6],

    computed as n! [t^n] of products of the series E[z^a e^{t z}] = sum_n mu_{n+a} t^n / n!
    (the exact moments mu of :func:`latent_moment`), then divided by s^3
    (c^6 and (c^3)^2 are homogeneous of degree 6 in 1/sqrt(s)).

    Returns
    -------
    dict of Fraction
        'D', 'O' (0 when s = 1), 'E3sq' (E3^2), 'E6', and 'kappa'.
    """
    if int(s) != s or s < 1:
        raise ValueError(f"s must be an integer >= 1, got {s!r}")
    s = int(s)
    mu = [latent_moment(dist, n) for n in range(9)]
    fact = [math.factorial(n) for n in range(9)]
    m0 = [mu[n] / fact[n] for n in range(7)]
    m1 = [mu[n + 1] / fact[n] for n in range(7)]
    m2 = [mu[n + 2] / fact[n] for n in range(7)]
    D = fact[6] * _series_pow_product([m0] * (s - 1) + [m2], 6)[6]
    O = fact[6] * _series_pow_product([m0] * (s - 2) + [m1, m1], 6)[6] if s >= 2 else Fraction(0)
    E3 = fact[3] * _series_pow_product([m0] * (s - 1) + [m1], 6)[3]
    E6 = fact[6] * _series_pow_product([m0] * s, 6)[6]
    kappa = Fraction(data_distribution(dist)[1]).limit_denominator(1000)
    norm = Fraction(s) ** 3
    return {"D": D / norm, "O": O / norm, "E3sq": E3 * E3 / norm, "E6": E6 / norm, "kappa": kappa}


def spike_gradient_covariance(d: int, s: int, dist: str = "uniform", exact: bool = False) -> np.ndarray:
    """Exact per-sample gradient covariance of the spike at its order-s saddle, frame A = I.

    u_0 = (e_1 + ... + e_s) / sqrt(s) and g(u_0; z) = (12 u_0 - 4 c^3 z) / kappa,
    c = u_0 . z, so Cov g = (16 / kappa^2) (E[c^6 z z^T] - E[c^3 z] E[c^3 z]^T):

        Sigma_jj = (16/kappa^2)(D - E3^2),  Sigma_jk = (16/kappa^2)(O - E3^2)  for j != k in S,
        Sigma_kk = (16/kappa^2) E6  for k not in S,  all other entries 0

    (:func:`spike_noise_moments`).  In another frame A the covariance is
    A Sigma A^T (the dynamics are rotation-equivariant).

    Parameters
    ----------
    d, s : int
        Dimension and saddle order, 1 <= s <= d.
    dist : str
        'uniform', 'rademacher' or 'laplace'.
    exact : bool
        Return a d x d object array of Fractions instead of floats.
    """
    if int(d) != d or d < 1 or int(s) != s or not 1 <= s <= d:
        raise ValueError(f"need integers 1 <= s <= d, got d = {d!r}, s = {s!r}")
    mom = spike_noise_moments(s, dist)
    scale = 16 / mom["kappa"] ** 2
    C = np.full((d, d), Fraction(0), dtype=object)
    for j in range(s):
        for k in range(s):
            C[j, k] = scale * ((mom["D"] if j == k else mom["O"]) - mom["E3sq"])
    for k in range(s, d):
        C[k, k] = scale * mom["E6"]
    return C if exact else C.astype(float)


def _series_mul(a, b):
    """Truncated product of power series stored along the last axis (broadcasting)."""
    n = a.shape[-1]
    out = np.zeros(np.broadcast_shapes(a.shape, b.shape))
    for i in range(n):
        out[..., i:] += a[..., i : i + 1] * b[..., : n - i]
    return out


def _series_div(a, b):
    """Truncated quotient a / b of power series (b[..., 0] != 0), along the last axis."""
    n = a.shape[-1]
    a, b = np.broadcast_arrays(a, b)
    q = np.zeros(a.shape)
    for i in range(n):
        q[..., i] = (a[..., i] - np.sum(q[..., :i] * b[..., i:0:-1], axis=-1)) / b[..., 0]
    return q


def spike_gradient_covariance_at(u: npt.ArrayLike, dist: str = "uniform", A: npt.ArrayLike | None = None) -> np.ndarray:
    """Exact per-sample gradient covariance of the spike at any point u (floats).

    Cov g(u; x) = (16 / kappa^2) A (E[c^6 z z^T] - E[c^3 z] E[c^3 z]^T) A^T with
    c = w . z, w = A^T u (the deterministic 12 ||u||^2 u / kappa does not vary).
    With independent coordinates, E[c^n prod_l z_l^{a_l}] = n! [t^n] prod_l
    E[z^{a_l} e^{t w_l z}]; the leave-one-out and leave-two-out products come from
    dividing the full product by single factors (each has constant term 1).
    Cost O(d^2) series operations of length 7.
    """
    u = np.asarray(u, dtype=float)
    w = u if A is None else np.asarray(A, dtype=float).T @ u
    kappa = data_distribution(dist)[1]
    mu = np.array([float(latent_moment(dist, n)) for n in range(9)])
    fact = np.array([math.factorial(n) for n in range(7)], dtype=float)
    powers = w[:, None] ** np.arange(7)
    M0 = powers * mu[0:7] / fact
    M1 = powers * mu[1:8] / fact
    M2 = powers * mu[2:9] / fact
    P = np.zeros(7)
    P[0] = 1.0
    for row in M0:
        P = _series_mul(P, row)
    Q = _series_div(P[None, :], M0)  # leave coordinate j out
    E3 = 6.0 * _series_mul(Q, M1)[:, 3]
    R = _series_div(Q[:, None, :], M0[None, :, :])  # leave j and k out (valid for j != k)
    E6 = 720.0 * _series_mul(_series_mul(R, M1[:, None, :]), M1[None, :, :])[..., 6]
    np.fill_diagonal(E6, 720.0 * _series_mul(Q, M2)[:, 6])
    C = 16.0 / kappa**2 * (E6 - np.outer(E3, E3))
    C = 0.5 * (C + C.T)
    if A is not None:
        A = np.asarray(A, dtype=float)
        C = A @ C @ A.T
    return C


def latent_sample(rng: np.random.Generator, n: int, d: int, dist: str) -> np.ndarray:
    """n x d i.i.d. latent coordinates of the ICA model, drawn with a numpy Generator."""
    key = str(dist).lower()
    data_distribution(key)
    if key == "uniform":
        return rng.uniform(-math.sqrt(3.0), math.sqrt(3.0), size=(n, d))
    if key == "rademacher":
        return rng.choice(np.array([-1.0, 1.0]), size=(n, d))
    return rng.laplace(0.0, 1.0 / math.sqrt(2.0), size=(n, d))
