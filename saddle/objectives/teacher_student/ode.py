"""The N -> infinity theory of the teacher-student problem (docs/theory.md, "Teacher-student: the ODE").

Saad and Solla, "Exact solution for on-line learning in multilayer neural networks", Phys. Rev. Lett. 74,
4337 (1995) and "On-line learning in soft committee machines", Phys. Rev. E 52, 4225 (1995); Goldt,
Advani, Saxe, Krzakala and Zdeborova, NeurIPS 2019 (their appendix lists the same integrals).

For g(z) = erf(z / sqrt 2) the Gaussian averages that the ODE needs have closed forms in the covariance
C of the fields involved (1 + C_aa comes from the activation's sqrt 2):

    I2(a, b)       = E[g(a) g(b)]             = (2/pi) asin(C12 / sqrt((1 + C11)(1 + C22)))
    I3(a, b, c)    = E[g'(a) b g(c)]          = (2/pi) (C23 (1 + C11) - C12 C13) / ((1 + C11) sqrt(L3)),
                     L3 = (1 + C11)(1 + C33) - C13^2
    I4(a, b, c, d) = E[g'(a) g'(b) g(c) g(d)] = (4/pi^2) asin(L0 / sqrt(L1 L2)) / sqrt(L4),
                     L4 = (1 + C11)(1 + C22) - C12^2,
                     L0 = L4 C34 - C23 C24 (1 + C11) - C13 C14 (1 + C22) + C12 C13 C24 + C12 C14 C23,
                     L1 = L4 (1 + C33) - C23^2 (1 + C11) - C13^2 (1 + C22) + 2 C12 C13 C23,
                     L2 = L4 (1 + C44) - C24^2 (1 + C11) - C14^2 (1 + C22) + 2 C12 C14 C24
    J2(a, b)       = E[g'(a) g'(b)]           = (2/pi) / sqrt((1 + C11)(1 + C22) - C12^2)

(each is checked against Monte Carlo in tests/test_teacher_student_ode.py).  With Delta = y - phi =
sum_a s_a g(f_a) over the fields f = (lambda_1..lambda_K, rho_1..rho_M), s_a = -1 for a student field
and +1 for a teacher field, and alpha = steps / N, the ODE reads

    dR_in/dalpha = eta sum_a s_a I3(lambda_i, rho_n, f_a),
    dQ_ik/dalpha = eta sum_a s_a [I3(lambda_i, lambda_k, f_a) + I3(lambda_k, lambda_i, f_a)]
                   + (eta^2 / m) [sum_ab s_a s_b I4(lambda_i, lambda_k, f_a, f_b) + sigma^2 J2(lambda_i, lambda_k)].

The batch size enters only through eta^2 / m.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from saddle.objectives.base import MINIBATCH_GRADIENT
from saddle.objectives.teacher_student.model import (
    generalisation_error,
    plateau_closed_form,
    symmetric_order_parameters,
)

# -- closed-form Gaussian averages ----------------------------------------------------------------

_Num = float | np.ndarray
"""A number, or an array of them (the averages are batched over the leading axes of C)."""


def I2(C: npt.ArrayLike) -> _Num:
    """E[g(u) g(v)] for (u, v) ~ N(0, C), C 2 x 2 (last two axes; batched)."""
    C = np.asarray(C, dtype=float)
    return (2.0 / math.pi) * np.arcsin(C[..., 0, 1] / np.sqrt((1.0 + C[..., 0, 0]) * (1.0 + C[..., 1, 1])))


def _i3(c11: _Num, c12: _Num, c13: _Num, c23: _Num, c33: _Num) -> _Num:
    l3 = (1.0 + c11) * (1.0 + c33) - c13 * c13
    return (2.0 / math.pi) * (c23 * (1.0 + c11) - c12 * c13) / ((1.0 + c11) * np.sqrt(l3))


def I3(C: npt.ArrayLike) -> _Num:
    """E[g'(u) v g(w)] for (u, v, w) ~ N(0, C), C 3 x 3 (last two axes; batched)."""
    C = np.asarray(C, dtype=float)
    return _i3(C[..., 0, 0], C[..., 0, 1], C[..., 0, 2], C[..., 1, 2], C[..., 2, 2])


def _i4(
    c11: _Num, c22: _Num, c33: _Num, c44: _Num, c12: _Num, c13: _Num, c14: _Num, c23: _Num, c24: _Num, c34: _Num
) -> _Num:
    l4 = (1.0 + c11) * (1.0 + c22) - c12 * c12
    l0 = l4 * c34 - c23 * c24 * (1.0 + c11) - c13 * c14 * (1.0 + c22) + c12 * c13 * c24 + c12 * c14 * c23
    l1 = l4 * (1.0 + c33) - c23 * c23 * (1.0 + c11) - c13 * c13 * (1.0 + c22) + 2.0 * c12 * c13 * c23
    l2 = l4 * (1.0 + c44) - c24 * c24 * (1.0 + c11) - c14 * c14 * (1.0 + c22) + 2.0 * c12 * c14 * c24
    return (4.0 / math.pi**2) * np.arcsin(l0 / np.sqrt(l1 * l2)) / np.sqrt(l4)


def I4(C: npt.ArrayLike) -> _Num:
    """E[g'(u) g'(v) g(w) g(z)] for (u, v, w, z) ~ N(0, C), C 4 x 4 (last two axes; batched)."""
    C = np.asarray(C, dtype=float)
    return _i4(
        C[..., 0, 0],
        C[..., 1, 1],
        C[..., 2, 2],
        C[..., 3, 3],
        C[..., 0, 1],
        C[..., 0, 2],
        C[..., 0, 3],
        C[..., 1, 2],
        C[..., 1, 3],
        C[..., 2, 3],
    )


def _j2(c11: _Num, c12: _Num, c22: _Num) -> _Num:
    return (2.0 / math.pi) / np.sqrt((1.0 + c11) * (1.0 + c22) - c12 * c12)


def J2(C: npt.ArrayLike) -> _Num:
    """E[g'(u) g'(v)] for (u, v) ~ N(0, C), C 2 x 2 (last two axes; batched)."""
    C = np.asarray(C, dtype=float)
    return _j2(C[..., 0, 0], C[..., 0, 1], C[..., 1, 1])


# -- the ODE --------------------------------------------------------------------------------------


def full_covariance(Q: np.ndarray, R: np.ndarray, T: np.ndarray) -> np.ndarray:
    """C = [[Q, R], [R^T, T]], the covariance of the fields (lambda, rho)."""
    return np.block([[Q, R], [R.T, T]])


def averages(
    Q: npt.ArrayLike, R: npt.ArrayLike, T: npt.ArrayLike, sigma: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three Gaussian averages of the ODE at C = [[Q, R], [R^T, T]].

    Returns (D_R, D_Q, N_Q): D_R[i, n] = E[Delta g'(lambda_i) rho_n], D_Q[i, k] =
    E[Delta g'(lambda_i) lambda_k] and N_Q[i, k] = E[Delta^2 g'(lambda_i) g'(lambda_k)] (including the
    output noise, + sigma^2 J2).
    """
    Q = np.asarray(Q, dtype=float)
    R = np.asarray(R, dtype=float)
    T = np.asarray(T, dtype=float)
    K, M = R.shape
    C = full_covariance(Q, R, T)
    n = K + M
    s = np.concatenate([-np.ones(K), np.ones(M)])
    d = np.diag(C)
    # E[g'(f_i) f_b g(f_a)] for student i, any b, any a: I3 with (u, v, w) = (i, b, a)
    i = np.arange(K)[:, None, None]
    b = np.arange(n)[None, :, None]
    a = np.arange(n)[None, None, :]
    i3 = _i3(d[i], C[i, b], C[i, a], C[b, a], d[a])  # K x n x n
    E3 = np.einsum("iba,a->ib", i3, s)  # E[Delta g'(lambda_i) f_b]
    ii = np.arange(K)[:, None, None, None]
    kk = np.arange(K)[None, :, None, None]
    aa = np.arange(n)[None, None, :, None]
    bb = np.arange(n)[None, None, None, :]
    i4 = _i4(d[ii], d[kk], d[aa], d[bb], C[ii, kk], C[ii, aa], C[ii, bb], C[kk, aa], C[kk, bb], C[aa, bb])
    N_Q = np.einsum("ikab,a,b->ik", i4, s, s)
    if sigma:
        N_Q = N_Q + sigma**2 * _j2(d[:K, None], Q, d[None, :K])
    return E3[:, K:], E3[:, :K], N_Q


def rhs(
    Q: np.ndarray, R: np.ndarray, T: np.ndarray, eta: float, m: float, sigma: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """(dQ/dalpha, dR/dalpha) of the ODE of the module docstring (alpha = steps / N)."""
    D_R, D_Q, N_Q = averages(Q, R, T, sigma)
    dR = eta * D_R
    dQ = eta * (D_Q + D_Q.T) + (eta * eta / m) * N_Q
    return dQ, dR


def _pack(Q: np.ndarray, R: np.ndarray) -> np.ndarray:
    return np.concatenate([Q.ravel(), R.ravel()])


def _unpack(y: np.ndarray, K: int, M: int) -> tuple[np.ndarray, np.ndarray]:
    Q = y[: K * K].reshape(K, K)
    return 0.5 * (Q + Q.T), y[K * K :].reshape(K, M)


@dataclass
class ODESolution:
    """The ODE's trajectory: alpha (n,), Q (n, K, K), R (n, K, M), eps_g (n,), and the solver's result."""

    alpha: np.ndarray
    Q: np.ndarray
    R: np.ndarray
    eps_g: np.ndarray
    exit_alpha: float = math.nan
    result: object = field(default=None, repr=False)


def integrate(
    Q0: npt.ArrayLike,
    R0: npt.ArrayLike,
    T: npt.ArrayLike,
    eta: float,
    m: float,
    alpha_max: float,
    sigma: float = 0.0,
    n_eval: int = 400,
    target: float | None = None,
    rtol: float = 1e-9,
    atol: float = 1e-12,
) -> ODESolution:
    """Integrate the ODE from (Q0, R0) to alpha_max with scipy.integrate.solve_ivp (LSODA).

    With ``target`` the integration stops at the first alpha with eps_g <= target (``exit_alpha``,
    NaN if it never comes).  eps_g along the trajectory is the exact formula at each point.
    """
    Q0 = np.asarray(Q0, dtype=float)
    R0 = np.asarray(R0, dtype=float)
    T = np.asarray(T, dtype=float)
    K, M = R0.shape

    def f(_: float, y: np.ndarray) -> np.ndarray:
        Q, R = _unpack(y, K, M)
        dQ, dR = rhs(Q, R, T, eta, m, sigma)
        return _pack(dQ, dR)

    events = None
    if target is not None:

        def hit(_: float, y: np.ndarray) -> float:
            Q, R = _unpack(y, K, M)
            return generalisation_error(Q, R, T) - target

        hit.terminal = True  # type: ignore[attr-defined]  # solve_ivp reads an event's options from its attributes
        hit.direction = -1  # type: ignore[attr-defined]
        events = [hit]
    t_eval = np.linspace(0.0, alpha_max, n_eval)
    from scipy.integrate import solve_ivp  # imported when used: the registry imports this module

    res = solve_ivp(
        f, (0.0, alpha_max), _pack(Q0, R0), method="LSODA", t_eval=t_eval, events=events, rtol=rtol, atol=atol
    )
    n = res.t.shape[0]
    Qs = np.empty((n, K, K))
    Rs = np.empty((n, K, M))
    eps = np.empty(n)
    for j in range(n):
        Qs[j], Rs[j] = _unpack(res.y[:, j], K, M)
        eps[j] = generalisation_error(Qs[j], Rs[j], T)
    exit_alpha = math.nan
    if events is not None and len(res.t_events[0]):
        exit_alpha = float(res.t_events[0][0])
    return ODESolution(res.t, Qs, Rs, eps, exit_alpha, res)


# -- the plateau ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plateau:
    """The symmetric fixed point (K = M, T = I) for a given eta/m and its linear stability.

    q, c, r: Q_ii, Q_ik (i != k), R_in; eps: its generalisation error (the plateau height eps*);
    eigenvalues: of the Jacobian of the full ODE per unit alpha at eta = 1 (scale by eta for another
    eta at the same eta/m); rate: the largest real part, the escape rate (also per unit alpha at eta = 1);
    left, right: its left and right eigenvectors in the coordinates of ``coordinates`` (l.r = 1).
    """

    K: int
    eta_over_m: float
    q: float
    c: float
    r: float
    eps: float
    eigenvalues: np.ndarray = field(repr=False)
    rate: float = math.nan
    left: np.ndarray | None = field(default=None, repr=False)
    right: np.ndarray | None = field(default=None, repr=False)

    def order_parameters(self) -> tuple[np.ndarray, np.ndarray]:
        return symmetric_order_parameters(self.K, self.K, self.q, self.c, self.r)


def coordinates(Q: np.ndarray, R: np.ndarray) -> np.ndarray:
    """The independent coordinates of (Q, R): the upper triangle of Q (row by row), then R row-major."""
    K = Q.shape[0]
    iu = np.triu_indices(K)
    return np.concatenate([Q[iu], R.ravel()])


def from_coordinates(x: np.ndarray, K: int, M: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`coordinates`."""
    iu = np.triu_indices(K)
    n = len(iu[0])
    Q = np.zeros((K, K))
    Q[iu] = x[:n]
    Q = Q + np.triu(Q, 1).T
    return Q, np.asarray(x[n:], dtype=float).reshape(K, M)


def _symmetric_residual(p: np.ndarray, K: int, eta_over_m: float, sigma: float) -> np.ndarray:
    """The ODE per unit eta in the symmetric ansatz, scaled so that it stays well posed as eta/m -> 0.

    Variables p = (gamma, delta, rho) with e = eta/m: c = c0 + e gamma, q = c + e delta, r = r0 + e rho,
    (c0, r0) the closed form.  Returns [dQ_11, (dQ_11 - dQ_12) / (q - c), dR_11] / e.  Dividing by
    q - c removes the branch q = c of identical students (an invariant set: identical students get
    identical updates, even from SGD, for ever), so the root is the plateau with q > c;
    the scaling by e resolves the degeneracy of the eta -> 0 limit (a curve of fixed points through
    the closed form), where the fixed point moves linearly in e.
    """
    gamma, delta, rho = p
    e = eta_over_m
    _, c0, r0, _ = plateau_closed_form(K)
    c = c0 + e * gamma
    d = e * delta
    Q, R = symmetric_order_parameters(K, K, c + d, c, r0 + e * rho)
    dQ, dR = rhs(Q, R, np.eye(K), 1.0, 1.0 / e, sigma)
    return np.array([dQ[0, 0], (dQ[0, 0] - dQ[0, 1]) / d, dR[0, 0]]) / e


def jacobian(
    Q: np.ndarray, R: np.ndarray, T: np.ndarray, eta: float, m: float, sigma: float = 0.0, h: float = 1e-7
) -> np.ndarray:
    """Jacobian of the ODE in the independent coordinates (upper triangle of Q, R) by central differences."""
    K, M = R.shape
    x0 = coordinates(Q, R)
    n = x0.shape[0]
    J = np.empty((n, n))
    for j in range(n):
        cols = []
        for sgn in (1.0, -1.0):
            x = x0.copy()
            x[j] += sgn * h
            Qx, Rx = from_coordinates(x, K, M)
            dQ, dR = rhs(Qx, Rx, T, eta, m, sigma)
            cols.append(coordinates(dQ, dR))
        J[:, j] = (cols[0] - cols[1]) / (2.0 * h)
    return J


_E_MIN = 1e-3
"""Below this eta/m the fixed point is extrapolated linearly from its values at E_MIN and 2 E_MIN (it
moves linearly in eta/m; the extrapolation error in q, c, r is of order eta/m * 1e-6)."""


def _scaled_fixed_point(K: int, eta_over_m: float, sigma: float) -> np.ndarray:
    """The root (gamma, delta, rho) of ``_symmetric_residual``, by continuation in eta/m from 1e-3."""
    from scipy.optimize import root  # imported when used, as solve_ivp

    x = np.array([0.0, 0.1, 0.0])
    e0 = min(eta_over_m, _E_MIN)
    n_steps = 1 + int(4 * math.log10(eta_over_m / e0)) + 1
    for e in np.geomspace(e0, eta_over_m, n_steps):
        # (dQ_11 - dQ_12) / (q - c) / e loses digits as e -> 0: the tolerance allows for it (and the
        # solver's own success flag is unreliable at that noise level, so the residual decides)
        tol = 1e-9 + 1e-15 / e**2
        # trial points past the plateau give NaN or infinite residuals (0/0, x/0: a huge output noise reaches
        # them at once): the residual test below rejects them, so numpy's warnings would only be noise
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            sol = root(_symmetric_residual, x, args=(K, e, sigma), method="hybr")
            if not (sol.x[1] > 0 and np.max(np.abs(sol.fun)) < tol):
                sol = root(_symmetric_residual, sol.x, args=(K, e, sigma), method="lm")
        if not (np.all(np.isfinite(sol.x)) and sol.x[1] > 0 and np.max(np.abs(sol.fun)) < tol):
            where = f"at eta/m = {e:.4g}" if e == eta_over_m else f"past eta/m = {e:.4g} (followed from 0)"
            raise RuntimeError(
                f"the plateau fixed point (q > c) is lost {where}: for large eta/m the plateau may not exist "
                "(SGD no longer converges to it)"
            )
        x = sol.x
    return x


def plateau(K: int, eta_over_m: float = 0.0, sigma: float = 0.0) -> Plateau:
    """The symmetric plateau fixed point for K = M, T = I at the given eta/m (scipy.optimize.root).

    At eta/m -> 0 it is Saad and Solla's closed form (q = c = 1/(2K - 1), r = 1/sqrt(K(2K - 1))); at
    finite eta/m the eta^2 term pushes q above c (the branch q = c of identical students, also a fixed
    point, is excluded: see ``_symmetric_residual``).  For K = 1 there is no plateau and a ValueError is
    raised.  The Jacobian of the full ODE (Q's upper triangle and all of R, not only the symmetric
    ansatz) is computed there at eta = 1, m = 1/(eta/m): its largest real eigenvalue is the escape rate
    per unit alpha and per unit eta (the ODE is eta times a function of (Q, R) and eta/m).
    """
    if K < 2:
        raise ValueError("the symmetric plateau needs K = M >= 2")
    if not (math.isfinite(eta_over_m) and eta_over_m >= 0.0):
        raise ValueError(f"eta/m must be finite and >= 0, got {eta_over_m}")
    q0, c0, r0, _ = plateau_closed_form(K)
    q, c, r = q0, c0, r0
    if eta_over_m > 0.0:
        if eta_over_m >= _E_MIN:
            x = _scaled_fixed_point(K, eta_over_m, sigma)
        else:  # the scaled residual is too noisy to solve here: linear extrapolation from 2 E_MIN, E_MIN
            xa = _scaled_fixed_point(K, _E_MIN, sigma)
            xb = _scaled_fixed_point(K, 2.0 * _E_MIN, sigma)
            x = xa + (xb - xa) * (eta_over_m - _E_MIN) / _E_MIN
        c = c0 + eta_over_m * x[0]
        q = c + eta_over_m * x[1]
        r = r0 + eta_over_m * x[2]
        if not (c >= 0.0 and q > c and r > 0.0):  # a fixed point of another kind (e.g. K = 3 from eta/m ~ 1.5)
            raise ValueError(
                f"no symmetric plateau at eta/m = {eta_over_m:g}: the fixed point found has q = {q:.3g}, "
                f"c = {c:.3g}, r = {r:.3g} (the plateau has q > c >= 0 and r > 0)"
            )
    Q, R = symmetric_order_parameters(K, K, q, c, r)
    eps = generalisation_error(Q, R, np.eye(K))
    m_eff = 1.0 / eta_over_m if eta_over_m > 0.0 else math.inf
    J = jacobian(Q, R, np.eye(K), 1.0, m_eff, sigma)
    evals, left, right = _eig(J)
    j = int(np.argmax(evals.real))
    return Plateau(
        K,
        float(eta_over_m),
        float(q),
        float(c),
        float(r),
        float(eps),
        evals,
        float(evals[j].real),
        left[:, j].real,
        right[:, j].real,
    )


def _eig(J: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from scipy.linalg import eig

    evals, vl, vr = eig(J, left=True, right=True)
    for j in range(len(evals)):
        vr[:, j] /= np.linalg.norm(vr[:, j])
        vl[:, j] /= np.conj(vl[:, j]) @ vr[:, j]
    return evals, vl, vr


# -- the plateau exit time ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExitPrediction:
    """Predicted plateau exit (docs/theory.md, "The exit-time prediction").

    steps, alpha (= steps / N) and samples_over_N (= m steps / N) are medians over the predicted law; NaN (never
    negative or infinite) with ``reason`` when no prediction can be made.  rate_alpha: the escape rate per unit
    alpha (eta times the Jacobian's top eigenvalue at eta = 1); rho = 1 + rate_alpha / N, the growth per step;
    unstable_dim: the multiplicity of the top eigenvalue ((K - 1)^2 for K = M, from the permutations of students
    and of teachers: 1 for K = 2, 4 for K = 3); noise_cov: the per-step covariance of the unstable coordinates,
    MEASURED from one-step moments of the exact reduced chain at the fixed point (seeded Monte Carlo,
    ``n_noise`` steps), not derived; s_Z: the RMS of the stationary amplitude Z (docs/theory.md section 1:
    Z ~ N(0, noise_cov / (rho^2 - 1))); z_star: the effective escape radius in the unstable coordinates,
    calibrated on the deterministic ODE: started at amplitude delta along the unstable direction it reaches
    eps_g <= target at alpha_exit, and z_star = delta exp(rate_alpha alpha_exit); alpha_arrival: random start
    only, when the symmetric ODE from the mean start comes within 5 % of eps*.
    """

    K: int
    N: int
    eta: float
    m: int
    start: str
    steps: float
    alpha: float
    samples_over_N: float
    rate_alpha: float = math.nan
    rho: float = math.nan
    unstable_dim: int = 0
    noise_cov: np.ndarray | None = field(default=None, repr=False)
    s_Z: float = math.nan
    z_star: float = math.nan
    alpha_arrival: float = math.nan
    plateau_eps: float = math.nan
    reason: str = ""


def _nan_prediction(K: int, N: int, eta: float, m: int, start: str, reason: str, **kw: Any) -> ExitPrediction:
    return ExitPrediction(K, N, eta, m, start, math.nan, math.nan, math.nan, reason=reason, **kw)


def _exit_alpha(X: np.ndarray, K: int, eta: float, m: float, sigma: float, target: float, alpha_max: float) -> float:
    Q, R = from_coordinates(X, K, K)
    sol = integrate(Q, R, np.eye(K), eta, m, alpha_max, sigma=sigma, n_eval=2, target=target, rtol=1e-8, atol=1e-12)
    return sol.exit_alpha


def predict_exit(
    K: int,
    N: int,
    eta: float,
    m: int,
    start: str = "plateau",
    sigma: float = 0.0,
    target: float | None = None,
    sigma0_sq: float = 0.1,
    seed: int = 0,
    n_noise: int = 20000,
    n_dirs: int = 8,
    n_init: int = 16,
    n_mc: int = 20001,
) -> ExitPrediction:
    """Predict the plateau exit time of SGD on the teacher-student problem with K = M, T = I.

    In the spirit of the linear theory (docs/theory.md, sections 1-2): near the fixed point X*
    (``plateau(K, eta/m)``) the unstable coordinates z = l.(X - X*) (l the left eigenvectors of the ODE's
    top eigenvalue) follow
    z_{t+1} = rho z_t + xi_t, rho = 1 + eta lambda / N, so z_t ~ rho^t Z and the exit comes when |Z| rho^t
    reaches z_star.  Ingredients:

    - growth: the Jacobian of the full ODE at the fixed point (``plateau``);
    - noise: the covariance of xi per step, MEASURED from ``n_noise`` one-step moments of the exact
      reduced chain (saddle.objectives.teacher_student.kernels) started on X*, keys (seed, trial);
    - escape radius: z_star from the deterministic ODE started at X* + delta (unstable direction),
      delta = 1e-6, averaged (in log) over ``n_dirs`` directions when the top eigenvalue is degenerate;
    - initial asymmetry: plateau start, none (only SGD noise: Z ~ N(0, noise_cov / (rho^2 - 1)));
      random start (w_k ~ N(0, sigma0^2 I_N)), the O(1/sqrt N) asymmetry of ``n_init`` exact random
      starts, each turned into an equivalent amplitude A = z_star exp(-lambda_alpha alpha_det) from its
      ODE exit alpha_det, plus the SGD noise injected from the arrival at the plateau on (alpha_arrival).

    The median over ``n_mc`` draws of log(z_star / |Z|) / log rho gives the steps.  Ignored: the shift of
    the fixed point at finite N (O(eta / N)), the noise in the stable directions (it raises eps_g a
    little, as the stable heat does at a saddle: docs/theory.md section 4), the nonlinearity of the
    noise-driven phase.  Returns NaN with a reason when there is no plateau, no unstable direction, or the
    noise already reaches the escape radius.
    """
    from saddle.objectives.teacher_student import kernels
    from saddle.objectives.teacher_student.model import TeacherStudent

    if start not in ("plateau", "random"):
        raise ValueError(f"start must be 'plateau' or 'random', got {start!r}")
    K, N, m = int(K), int(N), int(m)
    if N < 2 * K:
        return _nan_prediction(K, N, eta, m, start, f"N = {N} < K + M = {2 * K}")
    try:
        pl = plateau(K, eta / m, sigma)
    except (ValueError, RuntimeError) as exc:
        return _nan_prediction(K, N, eta, m, start, f"no plateau: {exc}")
    target = pl.eps / 2.0 if target is None else float(target)
    kw: dict[str, Any] = dict(plateau_eps=pl.eps)
    J = jacobian(*pl.order_parameters(), np.eye(K), eta, m, sigma)
    evals, vecs = np.linalg.eig(J)
    top = np.max(evals.real)
    if not top > 0.0:
        return _nan_prediction(K, N, eta, m, start, "the fixed point has no unstable direction", **kw)
    # the invariant subspace of the top eigenvalue, degenerate for K > 2 (permutations of students and of
    # teachers: multiplicity (K - 1)^2); its finite-difference split (even into complex pairs) is noise,
    # so a real basis comes from ordered real Schur forms of J (right) and J^T (left)
    from scipy.linalg import schur

    cut = top * (1.0 - 1e-4)
    _, Zr, d_u = schur(J, output="real", sort=lambda re, im: re >= cut)
    _, Zl, d_l = schur(J.T, output="real", sort=lambda re, im: re >= cut)
    if d_u != d_l or d_u == 0:
        return _nan_prediction(K, N, eta, m, start, "could not isolate the unstable subspace", **kw)
    rate_alpha = float(top)
    rho = 1.0 + rate_alpha / N
    Vr = Zr[:, :d_u]  # X - X* = Vr z + (stable part)
    Lz = np.linalg.solve(Zl[:, :d_u].T @ Vr, Zl[:, :d_u].T)  # z = Lz (X - X*)
    kw.update(rate_alpha=rate_alpha, rho=rho, unstable_dim=d_u)
    # noise of the unstable coordinates: one-step moments of the exact reduced chain at X*
    Qs, Rs = pl.order_parameters()
    Xs = coordinates(Qs, Rs)
    u0 = np.concatenate([Qs.ravel(), Rs.ravel()])
    model = TeacherStudent(N, K, K, sigma=sigma)
    pf, pa, pi = kernels.pack(model, kernels.REDUCED, sigma0_sq)
    out = np.empty((n_noise, u0.size))
    kernels.one_step(kernels.REDUCED, int(seed) % 2**63, n_noise, 1, u0, pf, pa, pi, MINIBATCH_GRADIENT, m, eta, out)
    coords = np.array([coordinates(o[: K * K].reshape(K, K), o[K * K :].reshape(K, K)) for o in out])
    dz = (coords - Xs) @ Lz.T  # n_noise x d_u
    noise_cov = np.atleast_2d(np.cov(dz, rowvar=False))
    cov_Z = noise_cov / (rho * rho - 1.0)
    s_Z = float(math.sqrt(np.trace(cov_Z)))
    kw.update(noise_cov=noise_cov, s_Z=s_Z)
    # escape radius from the ODE
    gen = np.random.default_rng([seed, 1])
    chol_Z = np.linalg.cholesky(cov_Z + 1e-300 * np.eye(d_u))
    delta = 1e-6
    alpha_max = 50.0 * math.log(1.0 / delta) / rate_alpha
    if d_u == 1:
        dirs = np.array([[1.0], [-1.0]])
    else:
        dirs = gen.standard_normal((n_dirs, d_u)) @ chol_Z.T
        dirs /= np.linalg.norm(dirs, axis=1)[:, None]
    logs = []
    for u in dirs:
        a = _exit_alpha(Xs + delta * Vr @ u, K, eta, m, sigma, target, alpha_max)
        if not math.isfinite(a):
            return _nan_prediction(
                K, N, eta, m, start, "the ODE did not leave the plateau from a small unstable perturbation", **kw
            )
        logs.append(math.log(delta) + rate_alpha * a)
    log_z_star = float(np.mean(logs))
    kw.update(z_star=math.exp(log_z_star))
    Z = gen.standard_normal((n_mc, d_u)) @ chol_Z.T
    if start == "plateau":
        log_ratio = log_z_star - np.log(np.linalg.norm(Z, axis=1))
        if not np.median(log_ratio) > 0.0:
            return _nan_prediction(
                K,
                N,
                eta,
                m,
                start,
                "the SGD noise alone reaches the escape radius: the linear theory does not apply",
                **kw,
            )
        steps = float(np.median(np.maximum(log_ratio, 0.0)) / math.log(rho))
        return ExitPrediction(K, N, eta, m, start, steps, steps / N, m * steps / N, **kw)
    # random start: the symmetric ODE from the mean start, and the asymmetry of exact random starts
    Q0 = sigma0_sq * np.eye(K)
    sol = integrate(Q0, np.zeros((K, K)), np.eye(K), eta, m, alpha_max, sigma=sigma, n_eval=4000)
    near = np.where(np.abs(sol.eps_g - pl.eps) <= 0.05 * pl.eps)[0]
    if len(near) == 0:
        return _nan_prediction(
            K, N, eta, m, start, "the ODE from the mean random start does not reach the plateau", **kw
        )
    alpha_arrival = float(sol.alpha[near[0]])
    kw.update(alpha_arrival=alpha_arrival)
    amp_list = []
    start_state = np.empty(u0.size)
    block = np.empty(4, dtype=np.uint64)
    for j in range(n_init):
        kernels.reduced_random_start(
            0, False, 1, pf, pa, pi, np.uint64(seed), np.uint64(j), m, start_state, start_state, block
        )
        X0 = coordinates(start_state[: K * K].reshape(K, K), start_state[K * K :].reshape(K, K))
        a = _exit_alpha(X0, K, eta, m, sigma, target, alpha_max)
        amp_list.append(math.exp(log_z_star - rate_alpha * a) if math.isfinite(a) else 0.0)
    amps = np.array(amp_list)
    # virtual amplitudes at alpha = 0: A (random direction) + Z e^{-lambda alpha_arrival}
    pick = gen.integers(0, n_init, n_mc)
    u = gen.standard_normal((n_mc, d_u))
    u /= np.linalg.norm(u, axis=1)[:, None]
    total = amps[pick][:, None] * u + Z * math.exp(-rate_alpha * alpha_arrival)
    log_ratio = log_z_star - np.log(np.linalg.norm(total, axis=1))
    alpha = float(np.median(np.maximum(log_ratio, 0.0)) / rate_alpha)
    if not (math.isfinite(alpha) and alpha > 0.0):
        return _nan_prediction(K, N, eta, m, start, "no finite positive exit time", **kw)
    return ExitPrediction(K, N, eta, m, start, alpha * N, alpha, m * alpha, **kw)
