"""The register tile of the direct convolution, written as LLVM IR for numba (``@intrinsic``).

``tile(w, wo, x, xo, offs, r0, r1, out, oo, ostride, mvalid, bias, bo, z, zo, zstride, flags)``
computes, for ``OCB`` output channels ``j < mvalid`` and ``16 * V`` consecutive output pixels
``q`` (float32)::

    s = sum_{r0 <= r < r1} w[wo + r * OCB + j] * x[xo + offs[r] + q]    (+ out[...] if ACCUMULATE)
    out[oo + j * ostride + q] = s, or with FINISH: act(s + bias[bo + j] (+ z[zo + j * zstride + q]))

Row ``r`` of the reduction (one input channel and kernel tap) reads one contiguous run of
``16 * V`` input pixels at ``offs[r]``: the padded input planes make every tap a shifted slice,
so no column matrix is built. The ``OCB * V`` accumulators stay in vector registers for the
whole reduction (phi nodes in one loop); each step loads ``V`` input vectors and broadcasts
``OCB`` weights, so it does ``OCB * V`` fused multiply-adds for ``V + OCB`` loads. ReLU is
``v > 0 ? v : 0``, as the numba epilogues. Rows ``j >= mvalid`` are computed and dropped.

With AVX-512 (32 vector registers) an 8 x 48 tile keeps 24 accumulators live: SqueezeNet's
3x3 convs run at 290-360 GFLOP/s on 2 cores, against ~270 for OpenBLAS's own GEMM on the
column matrix (which is then still to be built).

numba's on-disk cache keys the compiled loops on their own file (``conv_direct.py``), not on
this one: after changing the IR here, clear ``__pycache__`` or touch ``conv_direct.py``.
"""

from __future__ import annotations

import llvmlite.binding as llvm_binding
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

HAS_AVX512 = "+avx512f" in llvm_binding.get_host_cpu_features().flatten().split(",")
OCB = 8                          # output channels per tile (weights packed in blocks of these)
LANES = 16                       # float32 lanes of a vector
# flags: start from the sums in ``out`` (a later block of rows); FINISH: add the bias, then
# (with RESIDUAL) ``z``, then (with RELU) apply ReLU, before the store
ACCUMULATE, FINISH, RELU, RESIDUAL = 1, 2, 4, 8

_F32, _I32, _I64 = ir.FloatType(), ir.IntType(32), ir.IntType(64)
_VEC = ir.VectorType(_F32, LANES)
_ZERO = ir.Constant(_VEC, [0.0] * LANES)


def _i64(value: int) -> ir.Constant:
    return ir.Constant(_I64, value)


def _splat(builder, scalar):
    one = builder.insert_element(ir.Constant(_VEC, ir.Undefined), scalar, ir.Constant(_I32, 0))
    return builder.shuffle_vector(one, ir.Constant(_VEC, ir.Undefined),
                                  ir.Constant(ir.VectorType(_I32, LANES), [0] * LANES))


def _vector_at(builder, base, offset: int):
    return builder.bitcast(builder.gep(base, [_i64(offset)]), _VEC.as_pointer())


def _codegen(vectors: int):
    def codegen(context, builder, signature, args):
        (w_arr, wo, x_arr, xo, offs_arr, r0, r1, out_arr, oo, ostride, mvalid, bias_arr, bo,
         z_arr, zo, zstride, flags) = args
        kinds = signature.args
        w = context.make_array(kinds[0])(context, builder, w_arr)
        x = context.make_array(kinds[2])(context, builder, x_arr)
        offs = context.make_array(kinds[4])(context, builder, offs_arr)
        out = context.make_array(kinds[7])(context, builder, out_arr)
        bias = context.make_array(kinds[11])(context, builder, bias_arr)
        z = context.make_array(kinds[13])(context, builder, z_arr)
        fma = builder.module.declare_intrinsic(
            f"llvm.fma.v{LANES}f32", fnty=ir.FunctionType(_VEC, [_VEC] * 3))

        def flag(bit: int):
            return builder.icmp_signed("!=", builder.and_(flags, _i64(bit)), _i64(0))
        accumulate, finish = flag(ACCUMULATE), flag(FINISH)
        relu = builder.and_(finish, flag(RELU))
        residual = builder.and_(finish, flag(RESIDUAL))
        wbase, xbase = builder.gep(w.data, [wo]), builder.gep(x.data, [xo])
        obase, zbase = builder.gep(out.data, [oo]), builder.gep(z.data, [zo])
        last = builder.sub(mvalid, _i64(1))
        before = builder.block
        with builder.if_then(accumulate):       # the sums so far; rows past mvalid read the
            loaded = []                         # last valid row: in bounds, never stored
            for j in range(OCB):
                row = builder.gep(obase, [builder.mul(ostride, builder.select(
                    builder.icmp_signed("<", _i64(j), mvalid), _i64(j), last))])
                loaded.append([builder.load(_vector_at(builder, row, LANES * k), align=4)
                               for k in range(vectors)])
            after_loads = builder.block
        start = []
        for j in range(OCB):
            row = []
            for k in range(vectors):
                first = builder.phi(_VEC)
                first.add_incoming(loaded[j][k], after_loads)
                first.add_incoming(_ZERO, before)
                row.append(first)
            start.append(row)

        entry = builder.block
        loop = builder.append_basic_block("tile.loop")
        done = builder.append_basic_block("tile.done")
        builder.cbranch(builder.icmp_signed("<", r0, r1), loop, done)

        builder.position_at_end(loop)
        r = builder.phi(_I64)
        r.add_incoming(r0, entry)
        accs = [[builder.phi(_VEC) for _ in range(vectors)] for _ in range(OCB)]
        for j in range(OCB):
            for k in range(vectors):
                accs[j][k].add_incoming(start[j][k], entry)
        xrow = builder.gep(xbase, [builder.load(builder.gep(offs.data, [r]))])
        xs = [builder.load(_vector_at(builder, xrow, LANES * k), align=4)
              for k in range(vectors)]
        wrow = builder.gep(wbase, [builder.mul(r, _i64(OCB))])
        new = []
        for j in range(OCB):
            wj = _splat(builder, builder.load(builder.gep(wrow, [_i64(j)])))
            new.append([builder.call(fma, [wj, xs[k], accs[j][k]]) for k in range(vectors)])
        following = builder.add(r, _i64(1))
        r.add_incoming(following, loop)
        for j in range(OCB):
            for k in range(vectors):
                accs[j][k].add_incoming(new[j][k], loop)
        builder.cbranch(builder.icmp_signed("<", following, r1), loop, done)

        builder.position_at_end(done)
        sums = []
        for j in range(OCB):              # phis first: LLVM wants them at the block's top
            row = []
            for k in range(vectors):
                total = builder.phi(_VEC)
                total.add_incoming(start[j][k], entry)
                total.add_incoming(new[j][k], loop)
                row.append(total)
            sums.append(row)
        for j in range(OCB):
            with builder.if_then(builder.icmp_signed("<", _i64(j), mvalid)):
                add = _splat(builder, builder.load(builder.gep(bias.data,
                                                                [builder.add(bo, _i64(j))])))
                orow = builder.gep(obase, [builder.mul(ostride, _i64(j))])
                zrow = builder.gep(zbase, [builder.mul(zstride, _i64(j))])
                for k in range(vectors):
                    v = builder.select(finish, builder.fadd(sums[j][k], add), sums[j][k])
                    zv = builder.load(_vector_at(builder, zrow, LANES * k), align=4)
                    v = builder.select(residual, builder.fadd(v, zv), v)
                    v = builder.select(relu, builder.select(
                        builder.fcmp_ordered(">", v, _ZERO), v, _ZERO), v)
                    builder.store(v, _vector_at(builder, orow, LANES * k), align=4)
        return context.get_dummy_value()
    return codegen


def _signature(*args):
    return types.void(*args)


@intrinsic
def tile_wide(typingctx, w, wo, x, xo, offs, r0, r1, out, oo, ostride, mvalid, bias, bo, z, zo,
              zstride, flags):
    """The 8 x 48 tile (three vectors per channel)."""
    return _signature(w, wo, x, xo, offs, r0, r1, out, oo, ostride, mvalid, bias, bo, z, zo,
                      zstride, flags), _codegen(3)


@intrinsic
def tile_narrow(typingctx, w, wo, x, xo, offs, r0, r1, out, oo, ostride, mvalid, bias, bo, z,
                zo, zstride, flags):
    """The 8 x 16 tile (one vector per channel): the pixels a wide tile leaves over."""
    return _signature(w, wo, x, xo, offs, r0, r1, out, oo, ostride, mvalid, bias, bo, z, zo,
                      zstride, flags), _codegen(1)


WIDE = 3 * LANES                 # pixels of a wide tile
NARROW = LANES
