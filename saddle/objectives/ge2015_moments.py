"""ge2015's per-sample gradient covariance Sigma(U), exactly: what its Gaussian batch-noise mode draws from
(docs/escape.md, Gaussian batch noise).

In the frame W = A^T U (row i of the k x d array W is w_i = A^T u_i) and z = A^T x, the random part of
column i's per-sample gradient (docs/objectives.md, ge2015) is (4/kappa) h_i(z) x, with the homogeneous cubic

    h_i(z) = c_i (S - c_i^2),   c = W z,   S = sum_l c_l^2.

Its third derivative is a constant symmetric tensor,

    T_i[a, b, e] = 2 (W_ia K_be + W_ib K_ae + W_ie K_ab) - 6 W_ia W_ib W_ie,   K = W^T W (d x d),

so h_i = T_i[z, z, z] / 6, its gradient is T_i[., z, z] / 2 and its Hessian T_i[., ., z].  The data
coordinates z_a are independent and symmetric, of variance 1, with cumulants k4 (= kappa), k6 and k8.  The
cumulant expansion E[z_a F] = sum_n k_{n+1} / n! E[d_a^n F] (exact for a polynomial F), applied for z_a
and then for z_b, gives for the degree-6 polynomial F = h_i h_j

    E[z_a z_b F] = E[d_a d_b F] + k4/6 E[d_a^3 d_b F + d_a d_b^3 F] + k4^2/36 d_a^3 d_b^3 F
                   + k6/120 (d_a^5 d_b F + d_a d_b^5 F)
                   + delta_ab (E[F] + k4/2 E[d_a^2 F] + k6/24 E[d_a^4 F] + k8/720 d_a^6 F).

Leibniz's rule splits each derivative between h_i and h_j, and the moments of z of order 2 and 4 that
remain close every term into a contraction of T_i and T_j (:func:`covariance_block` names them).  The
covariance of column i's and column j's random parts is that minus mu_i[a] mu_j[b], with

    mu_i[a] = E[z_a h_i] = tr_i[a] / 2 + k4/6 T_i[a, a, a],   tr_i[a] = sum_e T_i[a, e, e].

A block costs O(d^4) operations (the term sum_ef T_i[a, e, f] T_j[b, e, f] for every a, b).  Tests check
the result against the covariance of the per-sample gradients over a product quadrature that integrates
every polynomial of the data's degree exactly (tests/test_ge2015_noise.py).
"""

from __future__ import annotations

import math

import numpy as np

from saddle._numba import inline_njit, njit

PIVOT_TOLERANCE = 1e-12
"""Pivots of the covariance's Cholesky factor at or below this times its largest diagonal entry are zero
(a direction of zero variance, such as u_1 - u_2 at the collision saddle with shared samples)."""


@njit
def cubic_tensors(W: np.ndarray, K: np.ndarray, T: np.ndarray, tr: np.ndarray, d3: np.ndarray) -> None:
    """Into K = W^T W, T[i] = the third derivative of h_i, tr[i, a] = sum_e T[i, a, e, e], d3[i, a] = T[i, a, a, a].

    W is k x d (row i: w_i), K d x d, T k x d x d x d, tr and d3 k x d.
    """
    k, d = W.shape
    for a in range(d):
        for b in range(d):
            s = 0.0
            for i in range(k):
                s += W[i, a] * W[i, b]
            K[a, b] = s
    for i in range(k):
        for a in range(d):
            wa = W[i, a]
            for b in range(d):
                wb = W[i, b]
                for e in range(d):
                    we = W[i, e]
                    T[i, a, b, e] = 2.0 * (wa * K[b, e] + wb * K[a, e] + we * K[a, b]) - 6.0 * wa * wb * we
        for a in range(d):
            s = 0.0
            for e in range(d):
                s += T[i, a, e, e]
            tr[i, a] = s
            d3[i, a] = T[i, a, a, a]


@njit
def covariance_block(
    Ti: np.ndarray,
    Tj: np.ndarray,
    tri: np.ndarray,
    trj: np.ndarray,
    d3i: np.ndarray,
    d3j: np.ndarray,
    mui: np.ndarray,
    muj: np.ndarray,
    k4: float,
    k6: float,
    k8: float,
    out: np.ndarray,
) -> None:
    """out[a, b] = Cov(h_i z_a, h_j z_b), from the cubic tensors of columns i and j (module docstring).

    With g = T[., z, z] / 2 and H = T[., ., z], the terms of the expansion are, term by term:

    - E[F] = E[h_i h_j] = (9 <tr_i, tr_j> + 6 <T_i, T_j> + k4 (3 <d3_i, tr_j> + 3 <tr_i, d3_j>
      + 9 sum_ef T_i[e, e, f] T_j[e, e, f]) + k6 <d3_i, d3_j>) / 36  (the 6th moments of z);
    - E[d_a d_b F] = P_ij[a, b] + P_ji[a, b] + G[a, b] + G'[b, a], where P_ij[a, b] = E[H_i[a, b] h_j]
      = sum_e T_i[a, b, e] mu_j[e] and G[a, b] = E[g_i[a] g_j[b]] = (tr_i[a] tr_j[b]
      + 2 sum_ef T_i[a, e, f] T_j[b, e, f] + k4 sum_e T_i[a, e, e] T_j[b, e, e]) / 4;
    - E[d_a^3 d_b F] = T_i[aaa] E g_j[b] + 3 T_i[aab] E g_j[a] + 3 E[H_i[aa] H_j[ab]] + 3 E[H_i[ab] H_j[aa]]
      + 3 E g_i[a] T_j[aab] + E g_i[b] T_j[aaa], with E g[a] = tr[a] / 2 and
      E[H_i[xy] H_j[uv]] = sum_e T_i[x, y, e] T_j[u, v, e];
    - d_a^3 d_b^3 F = sum_s C(3, s)^2 T_i[a^s b^(3-s)] T_j[a^(3-s) b^s];
      d_a^5 d_b F = 10 (T_i[aaa] T_j[aab] + T_i[aab] T_j[aaa]);
    - on the diagonal: E[d_a^2 F] = E[d_a d_b F] at b = a, E[d_a^4 F] = 2 T_i[aaa] tr_j[a]
      + 6 E[H_i[aa] H_j[aa]] + 2 tr_i[a] T_j[aaa], d_a^6 F = 20 T_i[aaa] T_j[aaa].
    """
    d = tri.shape[0]
    s_tt = 0.0
    s_eef = 0.0
    for a in range(d):
        for b in range(d):
            s_eef += Ti[a, a, b] * Tj[a, a, b]
            for e in range(d):
                s_tt += Ti[a, b, e] * Tj[a, b, e]
    s_trtr = s_d3tr = s_trd3 = s_d3d3 = 0.0
    for a in range(d):
        s_trtr += tri[a] * trj[a]
        s_d3tr += d3i[a] * trj[a]
        s_trd3 += tri[a] * d3j[a]
        s_d3d3 += d3i[a] * d3j[a]
    e_f = (9.0 * s_trtr + 6.0 * s_tt + k4 * (3.0 * s_d3tr + 3.0 * s_trd3 + 9.0 * s_eef) + k6 * s_d3d3) / 36.0
    for a in range(d):
        for b in range(d):
            p = q = 0.0  # P_ij[a, b], P_ji[a, b]
            hh1 = hh2 = hh3 = hh4 = 0.0  # E[H_i[aa] H_j[ab]], E[H_i[ab] H_j[aa]], and with a, b swapped
            gab = gba = 0.0  # sum_ef T_i[a, e, f] T_j[b, e, f], and with a, b swapped
            dab = dba = 0.0  # sum_e T_i[a, e, e] T_j[b, e, e], and with a, b swapped
            for e in range(d):
                p += Ti[a, b, e] * muj[e]
                q += Tj[a, b, e] * mui[e]
                hh1 += Ti[a, a, e] * Tj[a, b, e]
                hh2 += Ti[a, b, e] * Tj[a, a, e]
                hh3 += Ti[b, b, e] * Tj[a, b, e]
                hh4 += Ti[a, b, e] * Tj[b, b, e]
                dab += Ti[a, e, e] * Tj[b, e, e]
                dba += Ti[b, e, e] * Tj[a, e, e]
                for f in range(d):
                    gab += Ti[a, e, f] * Tj[b, e, f]
                    gba += Ti[b, e, f] * Tj[a, e, f]
            second = p + q + 0.25 * (tri[a] * trj[b] + 2.0 * gab + k4 * dab)
            second += 0.25 * (tri[b] * trj[a] + 2.0 * gba + k4 * dba)
            iaaa, ibbb, iaab, iabb = d3i[a], d3i[b], Ti[a, a, b], Ti[a, b, b]
            jaaa, jbbb, jaab, jabb = d3j[a], d3j[b], Tj[a, a, b], Tj[a, b, b]
            fourth = 0.5 * iaaa * trj[b] + 1.5 * iaab * trj[a] + 3.0 * (hh1 + hh2) + 1.5 * tri[a] * jaab
            fourth += 0.5 * tri[b] * jaaa
            fourth += 0.5 * ibbb * trj[a] + 1.5 * iabb * trj[b] + 3.0 * (hh3 + hh4) + 1.5 * tri[b] * jabb
            fourth += 0.5 * tri[a] * jbbb
            sixth33 = ibbb * jaaa + 9.0 * iabb * jaab + 9.0 * iaab * jabb + iaaa * jbbb
            sixth51 = 10.0 * (iaaa * jaab + iaab * jaaa + ibbb * jabb + iabb * jbbb)
            value = second + k4 / 6.0 * fourth + k4 * k4 / 36.0 * sixth33 + k6 / 120.0 * sixth51
            if a == b:
                fourth_aa = 2.0 * iaaa * trj[a] + 6.0 * hh1 + 2.0 * tri[a] * jaaa
                value += e_f + k4 / 2.0 * second + k6 / 24.0 * fourth_aa + k8 / 36.0 * iaaa * jaaa
            out[a, b] = value - mui[a] * muj[b]


@njit
def psd_cholesky(S: np.ndarray) -> None:
    """S (n x n, symmetric positive semi-definite, its lower triangle read) into its Cholesky factor L, in
    its lower triangle (the strict upper triangle is left as it was).  A pivot at or below
    PIVOT_TOLERANCE times the largest diagonal entry is a direction of zero variance: its column of L is 0."""
    n = S.shape[0]
    tol = 0.0
    for j in range(n):
        tol = max(tol, S[j, j])
    tol *= PIVOT_TOLERANCE
    for j in range(n):
        s = S[j, j]
        for p in range(j):
            s -= S[j, p] * S[j, p]
        if s > tol:
            pivot = math.sqrt(s)
            S[j, j] = pivot
            for r in range(j + 1, n):
                v = S[r, j]
                for p in range(j):
                    v -= S[r, p] * S[j, p]
                S[r, j] = v / pivot
        else:
            for r in range(j, n):
                S[r, j] = 0.0


@inline_njit
def lower_matvec(L: np.ndarray, x: np.ndarray, off: int, y: np.ndarray) -> None:
    """y[off + r] = sum_{p <= r} L[r, p] x[off + p]: the lower triangle of L (a Cholesky factor from
    :func:`psd_cholesky`) times a piece of x, each sum over p in order."""
    for r in range(L.shape[0]):
        acc = 0.0
        for p in range(r + 1):
            acc += L[r, p] * x[off + p]
        y[off + r] = acc


@njit
def data_tensors(
    W: np.ndarray, k4: float, K: np.ndarray, T: np.ndarray, tr: np.ndarray, d3: np.ndarray, mu: np.ndarray
) -> None:
    """:func:`cubic_tensors`, and mu[i, a] = E[z_a h_i] = tr[i, a] / 2 + k4/6 d3[i, a] (mu k x d)."""
    k, d = W.shape
    cubic_tensors(W, K, T, tr, d3)
    for i in range(k):
        for a in range(d):
            mu[i, a] = 0.5 * tr[i, a] + k4 / 6.0 * d3[i, a]


@njit
def data_covariance(
    W: np.ndarray,
    k4: float,
    k6: float,
    k8: float,
    shared: bool,
    K: np.ndarray,
    T: np.ndarray,
    tr: np.ndarray,
    d3: np.ndarray,
    mu: np.ndarray,
    S: np.ndarray,
) -> None:
    """Into S ((k d) x (k d), row i d + a): the covariance of the stacked random parts (h_i(z) z)_i, in the
    frame; with ``shared`` False (independent samples per column) the blocks between columns are 0.
    K, T, tr, d3, mu are scratch of the shapes of :func:`cubic_tensors` (mu as tr)."""
    k, d = W.shape
    data_tensors(W, k4, K, T, tr, d3, mu)
    for i in range(k):
        for j in range(i + 1):  # the blocks on and below the diagonal; those above are their transposes
            block = S[i * d : (i + 1) * d, j * d : (j + 1) * d]
            if i == j or shared:
                covariance_block(T[i], T[j], tr[i], tr[j], d3[i], d3[j], mu[i], mu[j], k4, k6, k8, block)
            else:
                block[:, :] = 0.0
            if j < i:
                for a in range(d):
                    for b in range(d):
                        S[j * d + b, i * d + a] = block[a, b]


def frame_covariance(W: np.ndarray, cumulants: tuple[float, float, float], shared: bool) -> np.ndarray:
    """The (k d) x (k d) covariance of (h_i(z) z)_i for the k x d frame coordinates W (row i: A^T u_i), the
    data's cumulants (k4, k6, k8) and the sampling (``shared``: one mini-batch for all columns)."""
    W = np.ascontiguousarray(W, dtype=float)
    k, d = W.shape
    S = np.empty((k * d, k * d))
    data_covariance(
        W,
        *map(float, cumulants),
        bool(shared),
        np.empty((d, d)),
        np.empty((k, d, d, d)),
        np.empty((k, d)),
        np.empty((k, d)),
        np.empty((k, d)),
        S,
    )
    return S
