"""Counter-based random numbers: Philox4x64-10 keyed by (seed, trial).

Every random number of an experiment is a pure function of its position, so
results do not depend on threads, chunking, backend or cluster size
(SPEC section 6).  The generator is Philox4x64-10 (Salmon, Moraes, Dror and
Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011), the same
bijection as :class:`numpy.random.Philox`; ``tests/test_rng.py`` checks that
the raw 64-bit words agree with NumPy's for the same key and counter.

Stream layout (the contract the CPU and GPU backends share)
-----------------------------------------------------------
Trial ``n`` of an experiment with seed ``seed`` uses the key
``(seed, n)``.  The random words that step ``t`` (1-based) of a run with batch
size ``m`` draws for purpose ``p`` are the words that

    numpy.random.Philox(key=[seed, n], counter=[0, t, m, p]).random_raw()

returns, in order: block ``j = 0, 1, ...`` is Philox at counter
``(j + 1, t, m, p)``.  Purposes: ``DATA`` (the mini-batch samples),
``NOISE`` (the isotropic direction of noisy SGD and of PGD's perturbation),
``PERTURB`` (the radius of PGD's perturbation, word 0) and ``START`` (a
random start: the d normals of step t = 0).

Data variates use 32 bits each: 64-bit word ``q`` holds half-words
``2q`` (its low 32 bits) and ``2q + 1`` (its high 32 bits), and coordinate ``k``
of sample ``i`` is half-word ``i * d + k``.  From a half-word ``h``:

- ``u = (h + 0.5) * 2**-32``, uniform on the open interval (0, 1);
- uniform on [-sqrt 3, sqrt 3]: ``sqrt(3) * (2u - 1)`` (mean 0, variance 1);
- rademacher: ``+1`` if the top bit of ``h`` is 0, else ``-1``;
- laplace with scale 1/sqrt 2: ``-sign(u - 1/2) log(1 - 2|u - 1/2|) / sqrt 2``
  (|x| <= 15.7 by construction; P(|x| > 15.7) = 2e-10 for the exact law).

Normal variates (the noise) use whole 64-bit words: ``u = ((w >> 11) + 0.5)
* 2**-53`` and Box-Muller on consecutive pairs ``(w0, w1)``:
``r = sqrt(-2 log u0)``, ``(r cos 2 pi u1, r sin 2 pi u1)``.
"""

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from saddle._numba import inline_njit, njit

DATA = 0
NOISE = 1
PERTURB = 2
START = 3

UNIFORM, RADEMACHER, LAPLACE = 0, 1, 2
"""Integer codes of the data distributions inside kernels."""

_M0 = np.uint64(0xD2E7470EE14C6C93)
_M1 = np.uint64(0xCA5A826395121157)
_W0 = np.uint64(0x9E3779B97F4A7C15)
_W1 = np.uint64(0xBB67AE8584CAA73B)
_ROUNDS = 10
_TWO_M53 = 2.0**-53
_TWO_M32 = 2.0**-32
_LOW32 = np.uint64(0xFFFFFFFF)
_SQRT3 = math.sqrt(3.0)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)


@intrinsic
def _mulhilo64(typingctx, a, b):
    """Full 64 x 64 -> 128-bit product of two uint64, as (high, low) words."""
    sig = types.UniTuple(types.uint64, 2)(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        i128 = ir.IntType(128)
        i64 = ir.IntType(64)
        prod = builder.mul(builder.zext(args[0], i128), builder.zext(args[1], i128))
        lo = builder.trunc(prod, i64)
        hi = builder.trunc(builder.lshr(prod, ir.Constant(i128, 64)), i64)
        return context.make_tuple(builder, signature.return_type, (hi, lo))

    return sig, codegen


@inline_njit
def philox4x64(c0, c1, c2, c3, k0, k1, out):
    """Write Philox4x64-10 of counter (c0..c3) under key (k0, k1) into out[0:4].

    All arguments are uint64; ``out`` is a uint64 array of length >= 4.
    """
    for r in range(_ROUNDS):
        if r > 0:
            k0 = k0 + _W0
            k1 = k1 + _W1
        hi0, lo0 = _mulhilo64(_M0, c0)
        hi1, lo1 = _mulhilo64(_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    out[0] = c0
    out[1] = c1
    out[2] = c2
    out[3] = c3


@inline_njit
def open_uniform(w):
    """Uniform variate on (0, 1) from the top 53 bits of the uint64 word w."""
    return (float(w >> np.uint64(11)) + 0.5) * _TWO_M53


@inline_njit
def half_word(block, lane):
    """Half-word ``lane`` (0..7) of a 4-word block: low 32 bits of word lane // 2, then high."""
    w = block[lane >> 1]
    if lane & 1:
        return w >> np.uint64(32)
    return w & _LOW32


@inline_njit
def data_variate(h, dist):
    """Mean-0, variance-1 variate of distribution code ``dist`` from a 32-bit half-word h."""
    if dist == RADEMACHER:
        return 1.0 - 2.0 * float(h >> np.uint64(31))
    u = (float(h) + 0.5) * _TWO_M32
    if dist == UNIFORM:
        return _SQRT3 * (2.0 * u - 1.0)
    # LAPLACE with scale 1/sqrt 2
    v = u - 0.5
    if v < 0.0:
        return _INV_SQRT2 * math.log(1.0 + 2.0 * v)
    return -_INV_SQRT2 * math.log(1.0 - 2.0 * v)


@inline_njit
def normal_pair(w0, w1):
    """Two independent standard normals from two uint64 words (Box-Muller)."""
    r = math.sqrt(-2.0 * math.log(open_uniform(w0)))
    phi = 2.0 * math.pi * open_uniform(w1)
    return r * math.cos(phi), r * math.sin(phi)


NORMALS_PER_BLOCK = 4
"""Normal variates per generator block: ``fill_normals_at`` starts at a multiple of this."""


@njit
def fill_normals_at(key0, key1, t, m, purpose, start, out, block):
    """out[i] = standard normal ``start + i`` of the stream (t, m, purpose), the same numbers as
    ``fill_normals`` gives at those positions.

    ``start`` must be a multiple of ``NORMALS_PER_BLOCK``: a long stream (e.g. m samples of N
    coordinates each) can then be drawn piece by piece without a buffer of its whole length.
    ``block`` is a uint64 scratch array of length 4.
    """
    d = out.shape[0]
    j = np.uint64(start // NORMALS_PER_BLOCK)
    for k in range(0, d, 4):
        j += np.uint64(1)
        philox4x64(j, np.uint64(t), np.uint64(m), np.uint64(purpose), key0, key1, block)
        a, b = normal_pair(block[0], block[1])
        c, e = normal_pair(block[2], block[3])
        out[k] = a
        if k + 1 < d:
            out[k + 1] = b
        if k + 2 < d:
            out[k + 2] = c
        if k + 3 < d:
            out[k + 3] = e


@njit
def fill_normals(key0, key1, t, m, purpose, out, block):
    """out[k] = standard normal k of the stream (t, m, purpose): Box-Muller on word pairs.

    Words 4j .. 4j + 3 (block j) give normals 4j .. 4j + 3; ``block`` is a
    uint64 scratch array of length 4.
    """
    fill_normals_at(key0, key1, t, m, purpose, 0, out, block)


@njit
def fill_uniforms(key0, key1, t, m, purpose, out, block):
    """out[k] = open_uniform(word k of the stream (t, m, purpose)): uniform on (0, 1).

    Word 4j + l is lane l of block j + 1 (the layout of ``fill_words``); ``block``
    is a uint64 scratch array of length 4.
    """
    d = out.shape[0]
    j = np.uint64(0)
    for k in range(0, d, 4):
        j += np.uint64(1)
        philox4x64(j, np.uint64(t), np.uint64(m), np.uint64(purpose), key0, key1, block)
        for lane in range(min(4, d - k)):
            out[k + lane] = open_uniform(block[lane])


@njit
def fill_words(seed, trial, t, m, purpose, out):
    """Fill ``out`` with the first len(out) words of the stream (t, m, purpose).

    Used by tests and by code paths that are not speed-critical; the kernels
    draw the same words block by block without the temporary array.
    """
    k0 = np.uint64(seed)
    k1 = np.uint64(trial)
    block = np.empty(4, dtype=np.uint64)
    n = out.shape[0]
    j = 0
    while 4 * j < n:
        philox4x64(np.uint64(j + 1), np.uint64(t), np.uint64(m), np.uint64(purpose), k0, k1, block)
        for lane in range(4):
            q = 4 * j + lane
            if q < n:
                out[q] = block[lane]
        j += 1


def words(seed, trial, t, m, purpose, n):
    """The first ``n`` uint64 words of the stream of (seed, trial, t, m, purpose)."""
    out = np.empty(int(n), dtype=np.uint64)
    fill_words(np.uint64(seed), np.uint64(trial), np.uint64(t), np.uint64(m), np.uint64(purpose), out)
    return out


def half_words(words_array):
    """Split uint64 words into their 32-bit halves, low half first (as uint64)."""
    w = np.asarray(words_array, dtype=np.uint64)
    return np.stack([w & _LOW32, w >> np.uint64(32)], axis=-1).reshape(*w.shape[:-1], -1)


def data_variates(halves, dist):
    """Vectorised NumPy version of :func:`data_variate` on 32-bit half-words."""
    h = np.asarray(halves, dtype=np.uint64)
    if dist == RADEMACHER:
        return 1.0 - 2.0 * (h >> np.uint64(31)).astype(np.float64)
    u = (h.astype(np.float64) + 0.5) * _TWO_M32
    if dist == UNIFORM:
        return _SQRT3 * (2.0 * u - 1.0)
    v = u - 0.5
    return np.where(v < 0.0, _INV_SQRT2 * np.log(1.0 + 2.0 * v), -_INV_SQRT2 * np.log(1.0 - 2.0 * v))
