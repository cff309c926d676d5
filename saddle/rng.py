"""Counter-based random numbers: Philox4x32-10 keyed by (seed, trial).

Every random number of an experiment is a pure function of its position, so
results do not depend on threads, chunking, backend or cluster size
(docs/escape.md, random streams).  The generator is Philox4x32-10 (Salmon, Moraes, Dror and
Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011), the bijection of
cuRAND's ``Philox4_32_10`` and of randomgen's ``Philox(number=4, width=32)``:
four 32-bit counter words, two 32-bit key words, ten rounds of two
32 x 32 -> 64-bit multiplies (which SIMD units and GPUs do natively).
``tests/test_rng.py`` checks its words against randomgen's.

Stream layout (the contract the CPU and GPU backends share)
-----------------------------------------------------------
The random words that step ``t`` of trial ``trial`` of an experiment with
seed ``seed``, run with batch size ``m``, draws for purpose ``p`` are the
32-bit words of the Philox4x32-10 blocks

    key     = (seed mod 2**32, seed // 2**32)
    counter = (j + 1, trial, t, p * 2**30 + (m - 1))     (word 0 first)

for blocks ``j = 0, 1, ...``; word ``4 j + l`` of the stream is word ``l`` of
block ``j``.  Equivalently, they are what

    randomgen.Philox(number=4, width=32, key=[seed mod 2**32, seed // 2**32],
                     counter=[0, trial, t, p * 2**30 + m - 1]).random_raw()

returns, in order.  This is one-to-one, so that no two (seed, trial, t, m, p, j)
share a block, over the ranges (checked at the boundary, :func:`check_ranges`):

    0 <= seed < 2**64, 0 <= trial < 2**32, 0 <= t < 2**32, 1 <= m <= 2**30,
    p in {0, 1, 2, 3}, 0 <= j < 2**32 - 1 (at most 4 (2**32 - 1) words per step and purpose).

Purposes: ``DATA`` (the mini-batch samples), ``NOISE`` (the isotropic direction
of noisy SGD and of PGD's perturbation), ``PERTURB`` (the radius of PGD's
perturbation, uniform 0), ``START`` (a random start: the d normals, or the d
uniforms, of step t = 0) and ``BATCH_NOISE`` (the d normals of step t >= 1 that
the Gaussian batch-noise mode draws in place of the samples, docs/escape.md).
The counter has room for four purpose codes; ``BATCH_NOISE`` takes START's code
at the steps t >= 1, where START never draws, so that its streams meet no
other purpose's.

Data variates use one 32-bit word each: coordinate ``k`` of sample ``i`` is
word ``i * d + k``.  From a word ``h``:

- ``u = (h + 0.5) * 2**-32``, uniform on the open interval (0, 1);
- uniform on [-sqrt 3, sqrt 3]: ``sqrt(3) * (2u - 1)`` (mean 0, variance 1);
- rademacher: ``+1`` if the top bit of ``h`` is 0, else ``-1``;
- laplace with scale 1/sqrt 2: ``-sign(u - 1/2) log(1 - 2|u - 1/2|) / sqrt 2``
  (|x| <= 15.7 by construction; P(|x| > 15.7) = 2e-10 for the exact law).

Uniforms of 53 bits (random starts on R^d, PGD's radius) and normals use
64-bit words made of two consecutive 32-bit words, ``W_q = w_{2q} + 2**32
w_{2q+1}``, and ``u(W) = ((W >> 11) + 0.5) * 2**-53``: uniform ``q`` is
``u(W_q)``.  Normals ``2 j`` and ``2 j + 1`` come from block ``j`` by
Box-Muller on ``(W_{2j}, W_{2j+1})``: ``r = sqrt(-2 log u(W_{2j}))``,
``phi = 2 pi u(W_{2j+1})``, normals ``(r cos phi, r sin phi)``
(``NORMALS_PER_BLOCK`` = 2).  With 53-bit uniforms the law is exact up to
double rounding: the largest possible |z| is 8.6, beyond which the normal
law has probability 8e-18.  The logarithm, cosine and sine are computed by
plain arithmetic (:func:`log_unit`, :func:`cos_sin_turn`; within about an
ulp), not by libm, so that the loops over them vectorise and the C/CUDA twin
and ``tests/reference.py`` compute the same bits.

Before the change to Philox4x32-10 the streams were Philox4x64-10 (the
bijection of ``numpy.random.Philox``), see docs/escape.md.
"""

import math

import numpy as np
import numpy.typing as npt
from llvmlite import ir
from numba import carray, types
from numba.core import cgutils
from numba.extending import intrinsic

from saddle._numba import inline_njit, njit

DATA = 0
NOISE = 1
PERTURB = 2
START = 3
BATCH_NOISE = START
"""The Gaussian batch-noise mode's normals: START's code, at steps t >= 1 only (START draws at t = 0)."""

UNIFORM, RADEMACHER, LAPLACE = 0, 1, 2
"""Integer codes of the data distributions inside kernels."""

STREAM_LAYOUT = (
    "Philox4x32-10, key (seed mod 2**32, seed // 2**32), counter (block + 1, trial, step, purpose * 2**30 + m - 1)"
)
"""The streams in one line, as config.json and sweep.json record them."""

MAX_SEED = 2**64 - 1
MAX_TRIAL = 2**32 - 1
MAX_STEP = 2**32 - 1
MAX_M = 2**30
MAX_BLOCKS = 2**32 - 1
"""Ranges of the stream layout (inclusive maxima; blocks j < MAX_BLOCKS)."""
MAX_WORDS = 4 * MAX_BLOCKS
"""32-bit words one step may draw for one purpose."""

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_ROUNDS = 10
_TWO_M53 = 2.0**-53
_TWO_M32 = 2.0**-32
_LOW32 = np.uint64(0xFFFFFFFF)
_SQRT3 = math.sqrt(3.0)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)

# Box-Muller's logarithm and sine/cosine as plain arithmetic (no libm): the same bits in the Numba
# kernels, the C/CUDA twin and tests/reference.py, and loops over them vectorise.  The constants are
# written out as the doubles they are, so that escape.cu can copy them digit for digit.
_LN2_HI = 0.6931471803691238  # 0x1.62e42fee00000p-1: ln 2 to 32 bits (e * _LN2_HI is exact for |e| < 2**20)
_LN2_LO = 1.9082149292705877e-10  # ln 2 - _LN2_HI
_SQRT2 = 1.4142135623730951
_LOG_COEFFS = (
    0.6666666666666666,
    0.4,
    0.2857142857142857,
    0.2222222222222222,
    0.18181818181818182,
    0.15384615384615385,
    0.13333333333333333,
    0.11764705882352941,
    0.10526315789473684,
)
"""2 / (2k + 1), k = 1..9: the series of log((1 + s) / (1 - s)) = 2s + s R(s**2)."""
_SIN_COEFFS = (
    -0.16666666666666666,
    0.008333333333333333,
    -0.0001984126984126984,
    2.7557319223985893e-06,
    -2.505210838544172e-08,
    1.6059043836821613e-10,
    -7.647163731819816e-13,
    2.8114572543455206e-15,
)
"""(-1)**k / (2k + 1)!, k = 1..8 (Taylor to x**17: truncation below 1e-19 on [0, pi/4])."""
_COS_COEFFS = (
    0.041666666666666664,
    -0.001388888888888889,
    2.48015873015873e-05,
    -2.755731922398589e-07,
    2.08767569878681e-09,
    -1.1470745597729725e-11,
    4.779477332387385e-14,
    -1.5619206968586225e-16,
)
"""(-1)**(k + 1) / (2k + 2)!, k = 1..8 (Taylor to x**18)."""
_PI_4 = 0.7853981633974483
_L1, _L2, _L3, _L4, _L5, _L6, _L7, _L8, _L9 = _LOG_COEFFS
_S1, _S2, _S3, _S4, _S5, _S6, _S7, _S8 = _SIN_COEFFS
_C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8 = _COS_COEFFS
_MANTISSA = 0xFFFFFFFFFFFFF
_ONE_BITS = 0x3FF0000000000000

_Int = int | np.integer
"""An integer argument: a Python or NumPy integer (inside a kernel, whatever integer Numba typed it as)."""


def check_ranges(seed: int, trial_end: int, t_max: int, m: int, words: int = 0) -> None:
    """Raise ValueError unless the streams of trials < trial_end, steps <= t_max, batch size m and
    ``words`` 32-bit words per step and purpose lie in the ranges of the stream layout."""
    for name, value, low, high in (
        ("seed", seed, 0, MAX_SEED),
        ("trial index", trial_end - 1, -1, MAX_TRIAL),
        ("step", t_max, 0, MAX_STEP),
        ("batch size m", m, 1, MAX_M),
        ("random words per step", words, 0, MAX_WORDS),
    ):
        if not low <= int(value) <= high:
            raise ValueError(
                f"{name} {int(value)} is outside the range of saddle's random streams ({low}..{high}; saddle.rng)"
            )


@inline_njit
def philox_rounds(
    c0: np.uint64, c1: np.uint64, c2: np.uint64, c3: np.uint64, k0: np.uint64, k1: np.uint64
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:
    """The ten rounds of Philox4x32-10 on counter (c0..c3) under key (k0, k1): the block's four 32-bit
    words (uint64 holding 32-bit values).  Each round: (hi, lo) of M0 c0 and of M1 c2 (32 x 32 -> 64
    bits), then (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0) and the key bumped by the
    Weyl constants.  Inlined into every loop that draws blocks, which LLVM vectorises across blocks or
    lanes."""
    for r in range(_ROUNDS):
        if r > 0:
            k0 = (k0 + _W0) & _LOW32
            k1 = (k1 + _W1) & _LOW32
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & _LOW32, (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & _LOW32
    return c0, c1, c2, c3


@inline_njit
def philox4x32(
    c0: np.uint64, c1: np.uint64, c2: np.uint64, c3: np.uint64, k0: np.uint64, k1: np.uint64, out: np.ndarray
) -> None:
    """Write Philox4x32-10 of counter (c0..c3) under key (k0, k1) into out[0:4].

    Arguments are uint64 holding 32-bit values; ``out`` is a uint64 array of length >= 4 that
    receives the four 32-bit words (:func:`philox_rounds`).
    """
    c0, c1, c2, c3 = philox_rounds(c0, c1, c2, c3, k0, k1)
    out[0] = c0
    out[1] = c1
    out[2] = c2
    out[3] = c3


@inline_njit
def counter_word3(m: _Int, purpose: _Int) -> np.uint64:
    """Counter word 3 of the stream layout: purpose * 2**30 + (m - 1)."""
    return (np.uint64(purpose) << np.uint64(30)) | (np.uint64(m) - np.uint64(1))


@inline_njit
def stream_block(seed: _Int, trial: _Int, t: _Int, m: _Int, purpose: _Int, j: _Int, block: np.ndarray) -> None:
    """Block j (0-based) of the stream (seed, trial, t, m, purpose) into block[0:4] (32-bit words)."""
    seed = np.uint64(seed)
    philox4x32(
        np.uint64(j) + np.uint64(1),
        np.uint64(trial),
        np.uint64(t),
        counter_word3(m, purpose),
        seed & _LOW32,
        seed >> np.uint64(32),
        block,
    )


@inline_njit
def _blocks_into(
    seed: _Int, trial: _Int, t: _Int, m: _Int, purpose: _Int, j0: _Int, nb: _Int, out: np.ndarray, bits: np.uint64
) -> None:
    """Blocks j0 .. j0 + nb - 1 of the stream into out[0 : 4 nb], word l of block j0 + b at out[4 b + l],
    or'ed with ``bits``: one loop over blocks of lane-wise 32 x 32 -> 64-bit arithmetic, which LLVM
    vectorises (several blocks per instruction)."""
    seed = np.uint64(seed)
    k0s = seed & _LOW32
    k1s = seed >> np.uint64(32)
    c1s = np.uint64(trial)
    c2s = np.uint64(t)
    c3s = counter_word3(m, purpose)
    first = np.uint64(j0) + np.uint64(1)
    for b in range(nb):
        c0, c1, c2, c3 = philox_rounds(first + np.uint64(b), c1s, c2s, c3s, k0s, k1s)
        out[4 * b] = c0 | bits
        out[4 * b + 1] = c1 | bits
        out[4 * b + 2] = c2 | bits
        out[4 * b + 3] = c3 | bits


@njit
def stream_blocks(seed: _Int, trial: _Int, t: _Int, m: _Int, purpose: _Int, j0: _Int, out: np.ndarray) -> None:
    """Blocks j0, j0 + 1, ... of the stream into out (uint64, length a multiple of 4): block j0 + b is
    out[4 b : 4 b + 4]; the blocks' loop vectorises (several blocks per SIMD instruction)."""
    _blocks_into(seed, trial, t, m, purpose, j0, out.shape[0] // 4, out, np.uint64(0))


TWO52_BITS = np.uint64(0x4330000000000000)
"""The bits of the double 2**52: a 32-bit word h or'ed into them is the double 2**52 + h, exactly."""
_TWO52 = 2.0**52


@njit
def stream_word_doubles(
    seed: _Int, trial: _Int, t: _Int, m: _Int, purpose: _Int, j0: _Int, nb: _Int, out: np.ndarray
) -> None:
    """Blocks j0 .. j0 + nb - 1 of the stream into out[0 : 4 nb] (uint64), word l of block j0 + b at
    out[4 b + l], each word h stored as the bits of the double 2**52 + h (``h | TWO52_BITS``).

    The words of :func:`stream_blocks`, ready to become variates without an integer-to-double
    conversion: out.view(float64)[q] - 2**52 is word q exactly, in vector registers (AVX2 has no
    vector conversion of 64-bit integers to doubles; this is an or, a bit cast and a subtraction).
    :func:`data_variates_in_place` turns them into data variates.
    """
    _blocks_into(seed, trial, t, m, purpose, j0, nb, out, TWO52_BITS)


@njit
def data_variates_in_place(x: np.ndarray, n: _Int, dist: _Int) -> None:
    """x[q] = data_variate(h_q, dist) for q < n, where x[q] holds the double 2**52 + h_q
    (:func:`stream_word_doubles`, viewed as float64): the same numbers as :func:`data_variate`, bit for
    bit (2**52 + h - 2**52 is h exactly), in a loop per distribution that vectorises."""
    if dist == RADEMACHER:  # h >> 31 is 1 exactly when h >= 2**31
        for q in range(n):
            x[q] = -1.0 if x[q] - _TWO52 >= 2147483648.0 else 1.0
    elif dist == UNIFORM:
        for q in range(n):
            x[q] = _SQRT3 * (2.0 * ((x[q] - _TWO52 + 0.5) * _TWO_M32) - 1.0)
    else:  # LAPLACE with scale 1/sqrt 2
        for q in range(n):
            v = (x[q] - _TWO52 + 0.5) * _TWO_M32 - 0.5
            if v < 0.0:
                x[q] = _INV_SQRT2 * math.log(1.0 + 2.0 * v)
            else:
                x[q] = -_INV_SQRT2 * math.log(1.0 - 2.0 * v)


@inline_njit
def open_uniform(w: np.uint64) -> float:
    """Uniform variate on (0, 1) from the top 53 bits of the 64-bit word w (uint64)."""
    return (float(w >> np.uint64(11)) + 0.5) * _TWO_M53


@inline_njit
def double_word(block: np.ndarray, q: int) -> np.uint64:
    """64-bit word q (0 or 1) of a block: word 2q + 2**32 word 2q + 1."""
    return block[2 * q] | (block[2 * q + 1] << np.uint64(32))


@inline_njit
def word_value(h: np.uint64) -> float:
    """float(h) for a 32-bit word h (uint64), computed as the double 2**52 + h minus 2**52 (exact): an or,
    a bit cast and a subtraction, which vectorise on AVX2, where a 64-bit integer's conversion does not."""
    return _bits_float(np.int64(h | TWO52_BITS)) - _TWO52  # type: ignore[call-arg]


@inline_njit
def data_variate(h: np.uint64, dist: int) -> float:
    """Mean-0, variance-1 variate of distribution code ``dist`` from a 32-bit word h."""
    if dist == RADEMACHER:  # 1 - 2 (h >> 31)
        return -1.0 if h >> np.uint64(31) != np.uint64(0) else 1.0
    u = (word_value(h) + 0.5) * _TWO_M32
    if dist == UNIFORM:
        return _SQRT3 * (2.0 * u - 1.0)
    # LAPLACE with scale 1/sqrt 2
    v = u - 0.5
    if v < 0.0:
        return _INV_SQRT2 * math.log(1.0 + 2.0 * v)
    return -_INV_SQRT2 * math.log(1.0 - 2.0 * v)


@intrinsic
def _float_bits(typingctx, x):
    """The IEEE 754 bits of a float64, as an int64 (a bit cast)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def _bits_float(typingctx, b):
    """The float64 whose IEEE 754 bits are the int64 b (a bit cast)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@inline_njit
def log_unit(u: float) -> float:
    """log u for 0 < u <= 1 (a normal double), within about 1 ulp, by plain arithmetic.

    u = 2**e y with y in [sqrt(1/2), sqrt 2); with f = y - 1 and s = f / (2 + f),
    log y = f - f**2/2 + s (f**2/2 + R(s**2)), R the series of 2 atanh(s) - 2s (fdlibm's e_log.c
    with Taylor coefficients to s**19), and log u = e ln 2 + log y with ln 2 in two parts.
    """
    bits = _float_bits(u)  # type: ignore[call-arg, var-annotated]  # Numba passes an @intrinsic's typingctx
    e = (bits >> 52) - 1023
    y = _bits_float((bits & _MANTISSA) | _ONE_BITS)
    big = y > _SQRT2
    y = 0.5 * y if big else y
    e = e + 1 if big else e
    f = y - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    r = z * (_L1 + z * (_L2 + z * (_L3 + z * (_L4 + z * (_L5 + z * (_L6 + z * (_L7 + z * (_L8 + z * _L9))))))))
    dk = float(e)
    return dk * _LN2_HI - ((hfsq - (s * (hfsq + r) + dk * _LN2_LO)) - f)


@inline_njit
def cos_sin_turn(g: float) -> tuple[float, float]:
    """(cos 2 pi g, sin 2 pi g) for 0 < g <= 1, within about 2e-16, by plain arithmetic.

    8 g = o + f (octant o, exact); on the odd octants f is replaced by 1 - f (exact); with
    theta = f pi / 4 in [0, pi / 4], Taylor polynomials give cos theta and sin theta, and the octant's
    symmetry (a swap, then rotations by pi / 2 and pi as sign changes) gives the angle 2 pi g.
    """
    h = 8.0 * g
    o = np.int64(h)
    f = h - float(o)
    odd = (o & 1) == 1
    f = 1.0 - f if odd else f
    th = f * _PI_4
    z = th * th
    sn = th + th * z * (_S1 + z * (_S2 + z * (_S3 + z * (_S4 + z * (_S5 + z * (_S6 + z * (_S7 + z * _S8)))))))
    poly = _C1 + z * (_C2 + z * (_C3 + z * (_C4 + z * (_C5 + z * (_C6 + z * (_C7 + z * _C8))))))
    cs = 1.0 - (0.5 * z - z * z * poly)
    x0 = sn if odd else cs
    y0 = cs if odd else sn
    quarter = (o & 2) != 0
    x1 = -y0 if quarter else x0
    y1 = x0 if quarter else y0
    half = (o & 4) != 0
    return (-x1 if half else x1), (-y1 if half else y1)


@inline_njit
def box_muller(u0: float, u1: float) -> tuple[float, float]:
    """Two independent standard normals from two uniforms on (0, 1]: r (cos phi, sin phi) with
    r = sqrt(-2 log u0) and phi = 2 pi u1 (Box and Muller 1958)."""
    r = math.sqrt(-2.0 * log_unit(u0))
    c, sn = cos_sin_turn(u1)
    return r * c, r * sn


@inline_njit
def normal_pair(w0: np.uint64, w1: np.uint64) -> tuple[float, float]:
    """Two independent standard normals from two 64-bit words: Box-Muller on their 53-bit uniforms."""
    return box_muller(open_uniform(w0), open_uniform(w1))


NORMALS_PER_BLOCK = 2
"""Normal variates per generator block: ``fill_normals_at`` starts at a multiple of this."""


_LANES = 8
"""Pairs of normals drawn together by ``fill_normals_at``: one AVX-512 vector of doubles (two AVX2 ones)."""
_FEW_PAIRS = 2
"""Up to this many pairs ``fill_normals_at`` draws block by block (measured: faster for d <= 4)."""


@intrinsic
def _stack_scratch(typingctx):
    """A pointer to 2 _LANES float64 on the stack of the calling function (its entry block)."""
    sig = types.CPointer(types.float64)()

    def codegen(context, builder, signature, args):
        return cgutils.alloca_once(builder, ir.DoubleType(), size=context.get_constant(types.intp, 2 * _LANES))

    return sig, codegen


@inline_njit
def normals_at(
    key0: _Int, key1: _Int, t: _Int, m: _Int, purpose: _Int, start: int, out: np.ndarray, block: np.ndarray
) -> None:
    """out[i] = standard normal ``start + i`` of the stream (t, m, purpose) of key0 = seed,
    key1 = trial: the same numbers as ``fill_normals`` gives at those positions.

    ``start`` must be a multiple of ``NORMALS_PER_BLOCK``: a long stream (e.g. m samples of N
    coordinates each) can then be drawn piece by piece without a buffer of its whole length.
    ``block`` is a uint64 scratch array of length 4 (used when d is small).

    The pairs are drawn ``_LANES`` at a time, in loops of that constant length that LLVM vectorises
    whatever d (a loop of d / 2 iterations would run scalar below several dozen pairs): the blocks'
    two 53-bit uniforms into a scratch of 2 _LANES doubles, Box-Muller on them in place, then the
    normals that ``out`` has room for (an odd last one is the first of its pair).

    This is the inlined form, for the per-step draws of small d (the quadratic's and the octopus's
    d normals): its scratch lives on the caller's stack, and at d = 10 it takes 3.6 ns a normal where a
    call with a heap scratch took 13.6 (docs/performance.md).  Each inlined copy adds to the kernel's
    first compile, so draws made once per trial or of many normals call :func:`fill_normals_at`.
    """
    d = out.shape[0]
    pairs = (d + 1) // 2
    if pairs <= _FEW_PAIRS:  # a vector of lanes would be mostly idle: block by block
        for b in range(pairs):
            stream_block(key0, key1, t, m, purpose, start // NORMALS_PER_BLOCK + b, block)
            a, c = normal_pair(double_word(block, 0), double_word(block, 1))
            out[2 * b] = a
            if 2 * b + 1 < d:
                out[2 * b + 1] = c
        return
    scratch = carray(_stack_scratch(), 2 * _LANES)  # type: ignore[call-arg]  # Numba passes an @intrinsic's typingctx
    seed = np.uint64(key0)
    k0s = seed & _LOW32
    k1s = seed >> np.uint64(32)
    c1s = np.uint64(key1)
    c2s = np.uint64(t)
    c3s = counter_word3(m, purpose)
    first = np.uint64(start // NORMALS_PER_BLOCK) + np.uint64(1)
    for lo in range(0, pairs, _LANES):
        for i in range(_LANES):
            c0, c1, c2, c3 = philox_rounds(first + np.uint64(lo + i), c1s, c2s, c3s, k0s, k1s)
            scratch[i] = open_uniform(c0 | (c1 << np.uint64(32)))
            scratch[_LANES + i] = open_uniform(c2 | (c3 << np.uint64(32)))
        for i in range(_LANES):
            a, b = box_muller(scratch[i], scratch[_LANES + i])
            scratch[i] = a
            scratch[_LANES + i] = b
        for i in range(min(_LANES, pairs - lo)):
            k = 2 * (lo + i)
            out[k] = scratch[i]
            if k + 1 < d:
                out[k + 1] = scratch[_LANES + i]


@njit
def fill_normals_at(
    key0: _Int, key1: _Int, t: _Int, m: _Int, purpose: _Int, start: int, out: np.ndarray, block: np.ndarray
) -> None:
    """:func:`normals_at` as a call (compiled once, not inlined): the same numbers."""
    normals_at(key0, key1, t, m, purpose, start, out, block)


@njit
def fill_normals(key0: _Int, key1: _Int, t: _Int, m: _Int, purpose: _Int, out: np.ndarray, block: np.ndarray) -> None:
    """out[k] = standard normal k of the stream (t, m, purpose) of key0 = seed, key1 = trial.

    Block j gives normals 2j and 2j + 1 (Box-Muller on the 53-bit uniforms of its two 64-bit
    words); ``block`` is a uint64 scratch array of length 4.  A call; :func:`normals_at` is the
    inlined form of the same draw.
    """
    normals_at(key0, key1, t, m, purpose, 0, out, block)


# -- lockstep trials: one stream per lane --------------------------------------------------------------

TRIAL_LANES = _LANES
"""Trials run in lockstep by the small-m kernels (saddle.kernels.cpu): the lanes of one AVX-512 vector
of doubles (two AVX2 ones).  Lane r of a (d, TRIAL_LANES) array is one trial's vector."""


LANE_DRAW_BLOCKS = 4
"""Blocks of every lane's stream that :func:`lane_word_doubles` draws at once, 4 TRIAL_LANES Philox
computations in flight to hide the rounds' latency (ge2015's lanes at d = k = 10, m = 1024: a step in
0.78 of the time of per-lane draws and a transpose with 4, 0.85 with 1 block a lane; 8 gained nothing)."""
_LANE_LOCAL = (2 + 4 * LANE_DRAW_BLOCKS) * TRIAL_LANES
"""uint64 of the lanes' stack scratch: the lanes' counters, then LANE_DRAW_BLOCKS blocks of words."""


@intrinsic
def _stack_lane_words(typingctx):
    """A pointer to _LANE_LOCAL uint64 on the stack of the calling function (its entry block)."""
    sig = types.CPointer(types.uint64)()

    def codegen(context, builder, signature, args):
        return cgutils.alloca_once(builder, ir.IntType(64), size=context.get_constant(types.intp, _LANE_LOCAL))

    return sig, codegen


@inline_njit
def _lane_philox(
    key0: _Int, keys: np.ndarray, ts: np.ndarray, m: _Int, purpose: _Int, j: _Int, nb: int, local: np.ndarray
) -> None:
    """Blocks j .. j + nb - 1 of every lane's stream into local: word w of block j + b of lane r at
    local[(2 + 4 b + w) L + r] (L = TRIAL_LANES), local a stack scratch from ``_stack_lane_words`` (its
    first 2 L take the lanes' counters), nb <= LANE_DRAW_BLOCKS.  On the stack nothing aliases: LLVM
    vectorises the loop over lanes (on the caller's arrays it ran one lane at a time, 5x slower).  nb
    must be a constant where this is inlined: with a variable count the loops ran 1.8x slower."""
    L = TRIAL_LANES
    for r in range(L):
        local[r] = keys[r] & _LOW32
        local[L + r] = ts[r] & _LOW32
    seed = np.uint64(key0)
    k0s = seed & _LOW32
    k1s = seed >> np.uint64(32)
    c3s = counter_word3(m, purpose)
    first = np.uint64(j) + np.uint64(1)
    for b in range(nb):
        for r in range(L):
            c0, c1, c2, c3 = philox_rounds(first + np.uint64(b), local[r], local[L + r], c3s, k0s, k1s)
            o = (2 + 4 * b) * L + r
            local[o] = c0
            local[o + L] = c1
            local[o + 2 * L] = c2
            local[o + 3 * L] = c3


@inline_njit
def lane_blocks(key0: _Int, keys: np.ndarray, ts: np.ndarray, m: _Int, purpose: _Int, j: _Int, out: np.ndarray) -> None:
    """Block j of the stream (t = ts[r], m, purpose) of key (key0, keys[r]), for every lane r: word w
    into out[w, r] (out: uint64, shape (4, TRIAL_LANES)).  The same words as ``stream_block`` gives each
    trial alone, drawn for all lanes at once."""
    L = TRIAL_LANES
    local = carray(_stack_lane_words(), _LANE_LOCAL)  # type: ignore[call-arg]  # Numba passes an @intrinsic's typingctx
    _lane_philox(key0, keys, ts, m, purpose, j, 1, local)
    for w in range(4):
        for r in range(L):
            out[w, r] = local[(2 + w) * L + r]


_LANE_WORD_ROW = ir.VectorType(ir.IntType(64), TRIAL_LANES)


@intrinsic
def _lane_rows_from_local(typingctx, out, row, local, first, count, bits):
    """out[row + w, :] = local[(first + w) L : (first + w + 1) L] | bits for w < count: whole rows of
    TRIAL_LANES words in vector loads and stores (a loop over lanes into the caller's array would run
    one lane at a time).  out: uint64 (rows, TRIAL_LANES), C-contiguous; local: uint64, 1-d."""
    sig = types.void(out, row, local, first, count, bits)

    def codegen(context, builder, signature, args):
        out_ty, row_ty, local_ty, first_ty, count_ty, _ = signature.args
        out_ary = context.make_array(out_ty)(context, builder, args[0])
        local_ary = context.make_array(local_ty)(context, builder, args[2])
        row_ = context.cast(builder, args[1], row_ty, types.intp)
        first_ = context.cast(builder, args[3], first_ty, types.intp)
        count_ = context.cast(builder, args[4], count_ty, types.intp)
        lanes = context.get_constant(types.intp, TRIAL_LANES)
        zero = context.get_constant(types.intp, 0)
        vbits = ir.Constant(_LANE_WORD_ROW, ir.Undefined)
        for r in range(TRIAL_LANES):
            vbits = builder.insert_element(vbits, args[5], ir.Constant(ir.IntType(32), r))
        with cgutils.for_range(builder, count_) as loop:
            src = cgutils.get_item_pointer(
                context, builder, local_ty, local_ary, [builder.mul(builder.add(first_, loop.index), lanes)]
            )
            dst = cgutils.get_item_pointer(context, builder, out_ty, out_ary, [builder.add(row_, loop.index), zero])
            words = builder.load(builder.bitcast(src, _LANE_WORD_ROW.as_pointer()), align=8)
            builder.store(builder.or_(words, vbits), builder.bitcast(dst, _LANE_WORD_ROW.as_pointer()), align=8)
        return context.get_dummy_value()

    return sig, codegen


@inline_njit
def lane_word_doubles(
    key0: _Int, keys: np.ndarray, ts: np.ndarray, m: _Int, purpose: _Int, j0: _Int, nb: int, out: np.ndarray, row: int
) -> None:
    """Blocks j0 .. j0 + nb - 1 of the stream (t = ts[r], m, purpose) of key (key0, keys[r]), for every
    lane r: word q = 4 b + w of block j0 + b at out[row + q, r], stored as the bits of the double
    2**52 + h (as :func:`stream_word_doubles`; :func:`data_variates_in_place` on the rows turns them into
    variates).  out: uint64 (rows, TRIAL_LANES).  The words each trial's ``stream_word_doubles`` gives
    it, already in the lanes' layout, with no transpose; LANE_DRAW_BLOCKS blocks a lane at a time."""
    local = carray(_stack_lane_words(), _LANE_LOCAL)  # type: ignore[call-arg]  # Numba passes an @intrinsic's typingctx
    for b in range(0, nb, LANE_DRAW_BLOCKS):
        _lane_philox(key0, keys, ts, m, purpose, j0 + b, LANE_DRAW_BLOCKS, local)
        _lane_rows_from_local(out, row + 4 * b, local, 2, 4 * min(LANE_DRAW_BLOCKS, nb - b), TWO52_BITS)


@inline_njit
def lane_normals(key0: _Int, keys: np.ndarray, ts: np.ndarray, m: _Int, purpose: _Int, out: np.ndarray) -> None:
    """out[k, r] = standard normal k of the stream (t = ts[r], m, purpose) of key (key0, keys[r]): the
    numbers ``fill_normals`` gives each trial alone (Box-Muller on the same words, the same arithmetic),
    for every lane r at once; out: (d, TRIAL_LANES).  As ``normals_at``, the uniforms and Box-Muller
    go through a stack scratch, in loops over lanes that vectorise (2.7 ns a normal at d = 10).
    Putting several pairs per lane through Box-Muller at once gained nothing (measured)."""
    L = TRIAL_LANES
    d = out.shape[0]
    local = carray(_stack_lane_words(), _LANE_LOCAL)  # type: ignore[call-arg]  # Numba passes an @intrinsic's typingctx
    scratch = carray(_stack_scratch(), 2 * _LANES)
    for b in range((d + 1) // 2):
        _lane_philox(key0, keys, ts, m, purpose, b, 1, local)
        for r in range(L):
            scratch[r] = open_uniform(local[2 * L + r] | (local[3 * L + r] << np.uint64(32)))
            scratch[L + r] = open_uniform(local[4 * L + r] | (local[5 * L + r] << np.uint64(32)))
        for r in range(L):
            a, c = box_muller(scratch[r], scratch[L + r])
            scratch[r] = a
            scratch[L + r] = c
        for r in range(L):
            out[2 * b, r] = scratch[r]
        if 2 * b + 1 < d:
            for r in range(L):
                out[2 * b + 1, r] = scratch[L + r]


@njit
def fill_uniforms(key0: _Int, key1: _Int, t: _Int, m: _Int, purpose: _Int, out: np.ndarray, block: np.ndarray) -> None:
    """out[q] = open_uniform(64-bit word q of the stream (t, m, purpose)): uniform on (0, 1).

    Block j gives uniforms 2j and 2j + 1; ``block`` is a uint64 scratch array of length 4.
    """
    d = out.shape[0]
    j = 0
    for k in range(0, d, 2):
        stream_block(key0, key1, t, m, purpose, j, block)
        j += 1
        out[k] = open_uniform(double_word(block, 0))
        if k + 1 < d:
            out[k + 1] = open_uniform(double_word(block, 1))


@njit
def fill_words(seed: _Int, trial: _Int, t: _Int, m: _Int, purpose: _Int, out: np.ndarray) -> None:
    """Fill ``out`` (uint32 or uint64) with the first len(out) 32-bit words of the stream.

    Used by tests and by code paths that are not speed-critical; the kernels
    draw the same words block by block without the temporary array.
    """
    n = out.shape[0]
    blocks = np.empty(4 * ((n + 3) // 4), dtype=np.uint64)
    stream_blocks(seed, trial, t, m, purpose, 0, blocks)
    for q in range(n):
        out[q] = blocks[q]


def words(seed: int, trial: int, t: int, m: int, purpose: int, n: int) -> np.ndarray:
    """The first ``n`` 32-bit words of the stream of (seed, trial, t, m, purpose), as uint32."""
    check_ranges(seed, int(trial) + 1, t, m, n)
    out = np.empty(int(n), dtype=np.uint32)
    fill_words(np.uint64(seed), np.uint64(trial), np.uint64(t), np.uint64(m), np.uint64(purpose), out)
    return out


def uniforms(seed: int, trial: int, t: int, m: int, purpose: int, n: int) -> np.ndarray:
    """The first ``n`` 53-bit open uniforms of the stream (as :func:`fill_uniforms`)."""
    check_ranges(seed, int(trial) + 1, t, m, 2 * n)
    out = np.empty(int(n))
    fill_uniforms(np.uint64(seed), np.uint64(trial), t, m, purpose, out, np.empty(4, np.uint64))
    return out


def normals(seed: int, trial: int, t: int, m: int, purpose: int, n: int) -> np.ndarray:
    """The first ``n`` standard normals of the stream (as :func:`fill_normals`)."""
    check_ranges(seed, int(trial) + 1, t, m, 2 * n)
    out = np.empty(int(n))
    fill_normals(np.uint64(seed), np.uint64(trial), t, m, purpose, out, np.empty(4, np.uint64))
    return out


def data_variates(words_array: npt.ArrayLike, dist: int) -> np.ndarray:
    """Vectorised NumPy version of :func:`data_variate` on 32-bit words."""
    h = np.asarray(words_array).astype(np.uint64)
    if dist == RADEMACHER:
        return 1.0 - 2.0 * (h >> np.uint64(31)).astype(np.float64)
    u = (h.astype(np.float64) + 0.5) * _TWO_M32
    if dist == UNIFORM:
        return _SQRT3 * (2.0 * u - 1.0)
    v = u - 0.5
    return np.where(v < 0.0, _INV_SQRT2 * np.log(1.0 + 2.0 * v), -_INV_SQRT2 * np.log(1.0 - 2.0 * v))
