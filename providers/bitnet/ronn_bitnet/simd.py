"""AVX2 building block of the I2_S kernel, written as LLVM IR for numba (``@intrinsic``).

``i2s_dot(w, woff, x, xoff, pstride, mstride, nvec)`` returns, for ``R`` activation rows at once
(``R`` = 1 or 4), the int32 sums over ``nvec`` blocks of 32 packed weight bytes::

    sum_{j < 32 nvec} sum_{p < 4} code_p(w[woff + j]) * x[xoff + r * mstride + p * pstride + j]

Each block loads 32 weight bytes once, splits them into four vectors of 2-bit codes (shift, and)
and multiplies each with 32 int8 activations by ``vpmaddubsw`` (unsigned code x signed int8,
adjacent pairs summed to int16: at most 2 * 3 * 128 per pair, four planes 3072, no saturation),
then ``vpmaddwd`` by ones widens to int32. The result is exact, so it equals the reference.

Only used where the host CPU has AVX2 (``HAS_AVX2``); otherwise the generic loops run.
"""

from __future__ import annotations

import llvmlite.binding as llvm_binding
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

HAS_AVX2 = "+avx2" in llvm_binding.get_host_cpu_features().flatten().split(",")

_I8, _I16, _I32, _I64 = ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.IntType(64)
_V32I8, _V16I16, _V8I32 = ir.VectorType(_I8, 32), ir.VectorType(_I16, 16), ir.VectorType(_I32, 8)


def _const(ty, value):
    return ir.Constant(ty, [value] * ty.count)


def _codegen(rows: int):
    def codegen(context, builder, signature, args):
        w_arr = context.make_array(signature.args[0])(context, builder, args[0])
        x_arr = context.make_array(signature.args[2])(context, builder, args[2])
        woff, xoff, pstride, mstride, nvec = args[1], args[3], args[4], args[5], args[6]
        module = builder.module
        maddubs = module.declare_intrinsic(
            "llvm.x86.avx2.pmadd.ub.sw", fnty=ir.FunctionType(_V16I16, [_V32I8, _V32I8]))
        maddwd = module.declare_intrinsic(
            "llvm.x86.avx2.pmadd.wd", fnty=ir.FunctionType(_V8I32, [_V16I16, _V16I16]))
        i8p = _I8.as_pointer()
        wbase = builder.gep(builder.bitcast(w_arr.data, i8p), [woff])
        xbase = builder.gep(builder.bitcast(x_arr.data, i8p), [xoff])

        entry = builder.block
        loop = builder.append_basic_block("i2s.loop")
        done = builder.append_basic_block("i2s.done")
        zero = _const(_V8I32, 0)
        builder.cbranch(builder.icmp_signed(">", nvec, ir.Constant(_I64, 0)), loop, done)

        builder.position_at_end(loop)
        i = builder.phi(_I64)
        i.add_incoming(ir.Constant(_I64, 0), entry)
        accs = []
        for _ in range(rows):
            acc = builder.phi(_V8I32)
            acc.add_incoming(zero, entry)
            accs.append(acc)
        off = builder.mul(i, ir.Constant(_I64, 32))

        def load32(base, offset):
            return builder.load(builder.bitcast(builder.gep(base, [offset]), _V32I8.as_pointer()),
                                align=1)

        packed = load32(wbase, off)
        three = _const(_V32I8, 3)
        codes = [builder.and_(packed, three)] + [
            builder.and_(builder.lshr(packed, _const(_V32I8, 2 * p)), three) for p in (1, 2, 3)]
        new_accs = []
        for r, acc in enumerate(accs):
            row_off = builder.add(off, builder.mul(mstride, ir.Constant(_I64, r)))
            total = None
            for p, code in enumerate(codes):
                xv = load32(xbase, builder.add(row_off, builder.mul(pstride, ir.Constant(_I64, p))))
                prod = builder.call(maddubs, [code, xv])
                total = prod if total is None else builder.add(total, prod)
            new_accs.append(builder.add(acc, builder.call(maddwd, [total, _const(_V16I16, 1)])))
        nxt = builder.add(i, ir.Constant(_I64, 1))
        i.add_incoming(nxt, loop)
        for acc, new in zip(accs, new_accs):
            acc.add_incoming(new, loop)
        builder.cbranch(builder.icmp_signed("<", nxt, nvec), loop, done)

        builder.position_at_end(done)
        results = []
        for new in new_accs:              # phis first: LLVM wants them at the block's top
            res = builder.phi(_V8I32)
            res.add_incoming(zero, entry)
            res.add_incoming(new, loop)
            results.append(res)
        sums = []
        for res in results:
            s = builder.extract_element(res, ir.Constant(_I32, 0))
            for lane in range(1, 8):
                s = builder.add(s, builder.extract_element(res, ir.Constant(_I32, lane)))
            sums.append(s)
        if rows == 1:
            return sums[0]
        return context.make_tuple(builder, signature.return_type, sums)
    return codegen


@intrinsic
def i2s_dot1(typingctx, w, woff, x, xoff, pstride, mstride, nvec):
    """One activation row (``mstride`` unused): int32 sum over ``nvec`` 32-byte blocks."""
    return types.int32(w, woff, x, xoff, pstride, mstride, nvec), _codegen(1)


@intrinsic
def i2s_dot4(typingctx, w, woff, x, xoff, pstride, mstride, nvec):
    """Four activation rows ``mstride`` apart sharing each weight load: a 4-tuple of int32."""
    return (types.UniTuple(types.int32, 4)(w, woff, x, xoff, pstride, mstride, nvec),
            _codegen(4))


_V32I16, _V32I32 = ir.VectorType(_I16, 32), ir.VectorType(_I32, 32)


def _tl_codegen(context, builder, signature, args):
    """acc[aoff:aoff+32] += sum over byte columns j0..j1 of two pshufb lookups per column."""
    w_arr = context.make_array(signature.args[0])(context, builder, args[0])
    t_arr = context.make_array(signature.args[2])(context, builder, args[2])
    a_arr = context.make_array(signature.args[6])(context, builder, args[6])
    woff, toff, j0, j1, aoff = args[1], args[3], args[4], args[5], args[7]
    pshufb = builder.module.declare_intrinsic(
        "llvm.x86.avx2.pshuf.b", fnty=ir.FunctionType(_V32I8, [_V32I8, _V32I8]))
    i8p = _I8.as_pointer()
    wbase = builder.gep(builder.bitcast(w_arr.data, i8p), [woff])
    tbase = builder.gep(builder.bitcast(t_arr.data, i8p), [toff])

    def load32(base, offset):
        return builder.load(builder.bitcast(builder.gep(base, [offset]), _V32I8.as_pointer()),
                            align=1)

    entry = builder.block
    loop = builder.append_basic_block("tl.loop")
    done = builder.append_basic_block("tl.done")
    zero = _const(_V32I16, 0)
    builder.cbranch(builder.icmp_signed("<", j0, j1), loop, done)
    builder.position_at_end(loop)
    j = builder.phi(_I64)
    j.add_incoming(j0, entry)
    acc = builder.phi(_V32I16)
    acc.add_incoming(zero, entry)
    packed = load32(wbase, builder.mul(j, ir.Constant(_I64, 32)))     # 32 rows, byte column j
    fifteen = _const(_V32I8, 15)
    total = acc
    for half, idx in enumerate((builder.and_(packed, fifteen),
                                builder.and_(builder.lshr(packed, _const(_V32I8, 4)), fifteen))):
        group = builder.add(builder.mul(j, ir.Constant(_I64, 2)), ir.Constant(_I64, half))
        toff_g = builder.mul(group, ir.Constant(_I64, 64))
        lo = builder.call(pshufb, [load32(tbase, toff_g), idx])
        hi = builder.call(pshufb, [load32(tbase, builder.add(toff_g, ir.Constant(_I64, 32))),
                                   idx])
        value = builder.or_(builder.zext(lo, _V32I16),
                            builder.shl(builder.sext(hi, _V32I16), _const(_V32I16, 8)))
        total = builder.add(total, value)
    nxt = builder.add(j, ir.Constant(_I64, 1))
    j.add_incoming(nxt, loop)
    acc.add_incoming(total, loop)
    builder.cbranch(builder.icmp_signed("<", nxt, j1), loop, done)
    builder.position_at_end(done)
    result = builder.phi(_V32I16)
    result.add_incoming(zero, entry)
    result.add_incoming(total, loop)
    aptr = builder.bitcast(builder.gep(builder.bitcast(a_arr.data, _I32.as_pointer()), [aoff]),
                           _V32I32.as_pointer())
    builder.store(builder.add(builder.load(aptr, align=4), builder.sext(result, _V32I32)), aptr,
                  align=4)
    return context.get_dummy_value()


@intrinsic
def tl_block(typingctx, w, woff, tables, toff, j0, j1, acc, aoff):
    """TL on 32 output rows: ``acc[aoff + r] += sum_{j0 <= j < j1} T[2j][lo(w[j, r])] +
    T[2j+1][hi(w[j, r])]`` with ``w`` the row-tiled weights (32 bytes per column, from ``woff``)
    and ``tables`` 64 bytes per activation pair from ``toff`` (16 low bytes, 16 high bytes of
    the int16 sums, each twice for both 128-bit lanes). ``j1 - j0 <= 32`` keeps the int16
    partial sums exact (|T| <= 256, two lookups per column)."""
    return types.none(w, woff, tables, toff, j0, j1, acc, aoff), _tl_codegen
