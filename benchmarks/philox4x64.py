"""The previous generator of saddle.rng, Philox4x64-10, kept as the yardstick of the benchmarks.

Until the change to Philox4x32-10 (docs/escape.md, "Random streams") every stream of saddle was
Philox4x64-10, bit-equal to numpy.random.Philox: block j of the stream (seed, trial, t, m, purpose)
was the block at counter (j + 1, t, m, purpose) under key (seed, trial), and data variates used its
eight 32-bit half-words.  escape_bench.py draws it with the spike kernel's old loop next to the new
generator's (the generator floor, "before" and "after" in one run); kernel_anatomy.py's prototypes
were measured with it.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

M0 = np.uint64(0xD2E7470EE14C6C93)
M1 = np.uint64(0xCA5A826395121157)
W0 = np.uint64(0x9E3779B97F4A7C15)
W1 = np.uint64(0xBB67AE8584CAA73B)
LOW32 = np.uint64(0xFFFFFFFF)


@intrinsic
def mulhilo64(typingctx, a, b):
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


@njit(inline="always")
def philox4x64(c0, c1, c2, c3, k0, k1, out):
    """Write Philox4x64-10 of counter (c0..c3) under key (k0, k1) into out[0:4] (all uint64)."""
    for r in range(10):
        if r > 0:
            k0 = k0 + W0
            k1 = k1 + W1
        hi0, lo0 = mulhilo64(M0, c0)
        hi1, lo1 = mulhilo64(M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    out[0] = c0
    out[1] = c1
    out[2] = c2
    out[3] = c3


@njit(inline="always")
def half_word(block, lane):
    """Half-word ``lane`` (0..7) of a 4-word block: low 32 bits of word lane // 2, then high."""
    w = block[lane >> 1]
    if lane & 1:
        return w >> np.uint64(32)
    return w & LOW32
