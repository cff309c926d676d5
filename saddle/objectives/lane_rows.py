"""Rows of lanes: arithmetic on whole rows of (rows, TRIAL_LANES) float64 arrays, for objectives' lane hooks.

In the lockstep lanes (saddle.kernels.cpu.run_lanes) lane r of a (rows, TRIAL_LANES) array is one trial.
Numba leaves LLVM's SLP vectoriser off, and LLVM unrolls a loop over the TRIAL_LANES lanes (a constant
trip count) before its loop vectoriser could see it, so a Python loop over lanes runs one lane at a
time.  The intrinsics here do whole rows (every lane) in vector instructions instead: the same
multiplications and additions in the same order, lane by lane, as a scalar loop over one trial's numbers
(IEEE arithmetic, no fused multiply-add), so a lane hook built from them gives each trial the numbers
its one-trial hook gives it, bit for bit.  Each docstring states the scalar loop it replaces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from saddle import rng

_LANE_ROW = ir.VectorType(ir.DoubleType(), rng.TRIAL_LANES)
_ROW_BLOCK = 4
"""Rows whose sums the intrinsics run at once (independent accumulators in vector registers)."""


def _lane_row(context: Any, builder: Any, aryty: Any, ary: Any, row: Any) -> Any:
    """A pointer to row ``row`` of the (rows, TRIAL_LANES) float64 array ``ary``, as one vector."""
    zero = context.get_constant(types.intp, 0)
    ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [row, zero])
    return builder.bitcast(ptr, _LANE_ROW.as_pointer())


def _lane_args(context: Any, builder: Any, signature: Any, args: Any) -> list[Any]:
    """An intrinsic's arguments: each array as a function of its row (a vector pointer), integers as intp."""
    values: list[Any] = []
    for ty, value in zip(signature.args, args, strict=True):
        if isinstance(ty, types.Array):
            ary = context.make_array(ty)(context, builder, value)
            values.append(lambda row, ty=ty, ary=ary: _lane_row(context, builder, ty, ary, row))
        else:
            values.append(value if isinstance(ty, types.Float) else context.cast(builder, value, ty, types.intp))
    return values


def _splat(builder: Any, value: Any) -> Any:
    """The double ``value`` in every lane of a row."""
    row = ir.Constant(_LANE_ROW, ir.Undefined)
    for r in range(rng.TRIAL_LANES):
        row = builder.insert_element(row, value, ir.Constant(ir.IntType(32), r))
    return row


def _lane_signature(*args: Any) -> Any:
    if any(isinstance(a, types.Array) and (a.ndim != 2 or a.dtype != types.float64) for a in args):
        raise TypeError("lane rows live in 2-d float64 arrays of TRIAL_LANES columns")
    return types.void(*args)


def _lane_intrinsic(codegen_of: Callable[..., Any]) -> Callable[..., None]:
    """Numba's ``@intrinsic``, typed as its callers see it (Numba passes the typing context itself)."""
    return intrinsic(codegen_of)


def _row_sums(builder: Any, rows: Any, count: Any, first: Any, term: Any, finish: Any) -> None:
    """For each j < rows: acc = first(j); acc += term(j, s) for s = 0 .. count - 1 in order; finish(j, acc).
    _ROW_BLOCK rows at a time (their sums interleaved, each still in order of s), then the rows left
    over together (one at a time, a sum's additions wait on each other)."""
    intp = rows.type
    blocks = builder.sdiv(rows, ir.Constant(intp, _ROW_BLOCK))

    def sums(j0: Any, width: int) -> None:
        js = [builder.add(j0, ir.Constant(intp, t)) for t in range(width)]
        accs = [cgutils.alloca_once(builder, _LANE_ROW) for _ in js]
        for j, acc in zip(js, accs, strict=True):
            builder.store(first(j), acc)
        with cgutils.for_range(builder, count) as loop:
            for j, acc in zip(js, accs, strict=True):
                builder.store(builder.fadd(builder.load(acc), term(j, loop.index)), acc)
        for j, acc in zip(js, accs, strict=True):
            finish(j, builder.load(acc))

    with cgutils.for_range(builder, blocks) as block:
        sums(builder.mul(block.index, ir.Constant(intp, _ROW_BLOCK)), _ROW_BLOCK)
    done = builder.mul(blocks, ir.Constant(intp, _ROW_BLOCK))
    rest = builder.sub(rows, done)
    for width in range(1, _ROW_BLOCK):  # the rest in one block as well
        with builder.if_then(builder.icmp_signed("==", rest, ir.Constant(intp, width))):
            sums(done, width)


@_lane_intrinsic
def lane_dots(
    typingctx: Any, out: Any, o: Any, a: Any, a0: Any, a_step: Any, b: Any, b0: Any, b_step: Any, rows: Any, count: Any
) -> Any:
    """out[o + j] = sum_{q < count} a[a0 + j a_step + q] b[b0 + j b_step + q] for j < rows, lane by lane:
    each sum from 0.0, one product added at a time in the order of q (a scalar loop's numbers)."""
    sig = _lane_signature(out, o, a, a0, a_step, b, b0, b_step, rows, count)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        out_, o_, a_, a0_, a_step_, b_, b0_, b_step_, rows_, count_ = _lane_args(context, builder, signature, args)

        def term(j: Any, q: Any) -> Any:
            va = builder.load(a_(builder.add(builder.add(a0_, builder.mul(j, a_step_)), q)), align=8)
            vb = builder.load(b_(builder.add(builder.add(b0_, builder.mul(j, b_step_)), q)), align=8)
            return builder.fmul(va, vb)

        _row_sums(
            builder,
            rows_,
            count_,
            lambda j: ir.Constant(_LANE_ROW, [0.0] * rng.TRIAL_LANES),
            term,
            lambda j, acc: builder.store(acc, out_(builder.add(o_, j)), align=8),
        )
        return context.get_dummy_value()

    return sig, codegen


@_lane_intrinsic
def lane_outer(
    typingctx: Any, y: Any, y0: Any, w: Any, w0: Any, w_step: Any, x: Any, x0: Any, x_step: Any, rows: Any, count: Any
) -> Any:
    """y[y0 + q] += w[w0 + s w_step] x[x0 + s x_step + q] for s = 0 .. count - 1 in order, for q < rows,
    lane by lane: each row of y gets its terms one at a time in the order of s (as a loop over s that
    adds to every row)."""
    sig = _lane_signature(y, y0, w, w0, w_step, x, x0, x_step, rows, count)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        y_, y0_, w_, w0_, w_step_, x_, x0_, x_step_, rows_, count_ = _lane_args(context, builder, signature, args)

        def term(q: Any, s: Any) -> Any:
            vw = builder.load(w_(builder.add(w0_, builder.mul(s, w_step_))), align=8)
            vx = builder.load(x_(builder.add(builder.add(x0_, builder.mul(s, x_step_)), q)), align=8)
            return builder.fmul(vw, vx)

        _row_sums(
            builder,
            rows_,
            count_,
            lambda q: builder.load(y_(builder.add(y0_, q)), align=8),
            term,
            lambda q, acc: builder.store(acc, y_(builder.add(y0_, q)), align=8),
        )
        return context.get_dummy_value()

    return sig, codegen


@_lane_intrinsic
def lane_weights(typingctx: Any, c: Any, c0: Any, s: Any, si: Any, count: Any) -> Any:
    """c[c0 + i] <- c[c0 + i] (s[si] - c[c0 + i] c[c0 + i]) for i < count, lane by lane (w_i = c_i (S - c_i^2))."""
    sig = _lane_signature(c, c0, s, si, count)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        c_, c0_, s_, si_, count_ = _lane_args(context, builder, signature, args)
        vs = builder.load(s_(si_), align=8)
        with cgutils.for_range(builder, count_) as loop:
            ptr = c_(builder.add(c0_, loop.index))
            vc = builder.load(ptr, align=8)
            builder.store(builder.fmul(vc, builder.fsub(vs, builder.fmul(vc, vc))), ptr, align=8)
        return context.get_dummy_value()

    return sig, codegen


@_lane_intrinsic
def lane_scale(typingctx: Any, y: Any, y0: Any, x: Any, x0: Any, count: Any, c: Any) -> Any:
    """y[y0 + q] = c x[x0 + q] for q < count, lane by lane (y may be x)."""
    sig = _lane_signature(y, y0, x, x0, count, types.float64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        y_, y0_, x_, x0_, count_, _ = _lane_args(context, builder, signature, args)
        vc = _splat(builder, args[5])
        with cgutils.for_range(builder, count_) as loop:
            vx = builder.load(x_(builder.add(x0_, loop.index)), align=8)
            builder.store(builder.fmul(vx, vc), y_(builder.add(y0_, loop.index)), align=8)
        return context.get_dummy_value()

    return sig, codegen


@_lane_intrinsic
def lane_mean_minus(typingctx: Any, y: Any, y0: Any, m: Any, v: Any, vi: Any, x: Any, x0: Any, count: Any) -> Any:
    """y[y0 + q] = y[y0 + q] / m - v[vi] x[x0 + q] for q < count, lane by lane."""
    sig = _lane_signature(y, y0, types.float64, v, vi, x, x0, count)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        y_, y0_, _, v_, vi_, x_, x0_, count_ = _lane_args(context, builder, signature, args)
        vm = _splat(builder, args[2])
        vv = builder.load(v_(vi_), align=8)
        with cgutils.for_range(builder, count_) as loop:
            py = y_(builder.add(y0_, loop.index))
            vx = builder.load(x_(builder.add(x0_, loop.index)), align=8)
            mean = builder.fdiv(builder.load(py, align=8), vm)
            builder.store(builder.fsub(mean, builder.fmul(vv, vx)), py, align=8)
        return context.get_dummy_value()

    return sig, codegen


@_lane_intrinsic
def lane_cube(typingctx: Any, c: Any, c0: Any, count: Any) -> Any:
    """c[c0 + i] <- (c[c0 + i] c[c0 + i]) c[c0 + i] for i < count, lane by lane (the spike's c**3 as
    ``c * c * c``)."""
    sig = _lane_signature(c, c0, count)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        c_, c0_, count_ = _lane_args(context, builder, signature, args)
        with cgutils.for_range(builder, count_) as loop:
            ptr = c_(builder.add(c0_, loop.index))
            vc = builder.load(ptr, align=8)
            builder.store(builder.fmul(builder.fmul(vc, vc), vc), ptr, align=8)
        return context.get_dummy_value()

    return sig, codegen
