"""WAT for Winograd F(4x4, 3x3) transforms: 6x6 input tiles, 36 planes, 4x4 outputs per tile
(4x fewer multiplies than the direct conv, against 2.25x for F(2x2, 3x3)).

Same layout as ``wat_winograd`` (tile grid TH x TWp, TWp a multiple of 4): ``wino4_in`` writes
V = B^T d B as [36][C][TH*TWp], ``wino4_out`` turns Y [36][M][TH*TWp] into outputs with the
bias and the Relu floor. Columns of 4 tiles are gathered and scattered with 4x4 transposes.
"""

from __future__ import annotations

from ronn_wasm.wat_winograd import _for, _g, fill_row, output_function

BT = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
      [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
AT = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]


def _bytes(lanes) -> str:
    """i8x16.shuffle immediates for f32 lanes (0-3: first operand, 4-7: second)."""
    return " ".join(str(4 * lane + i) for lane in lanes for i in range(4))


def _comb(coefs, names) -> str:
    """sum(c * v) over the nonzero coefficients, as f32x4 instructions."""
    expr = None
    for c, name in zip(coefs, names):
        if c == 0:
            continue
        term = _g(name)
        mag = abs(c)
        if mag != 1:
            term = f"(f32x4.mul {term} (v128.const f32x4 {mag} {mag} {mag} {mag}))"
        if expr is None:
            expr = term if c > 0 else f"(f32x4.neg {term})"
        else:
            expr = f"(f32x4.{'add' if c > 0 else 'sub'} {expr} {term})"
    return expr


def _transpose(src, dst) -> str:
    """dst[j] lane l = src[l] lane j (4x4), through the temporaries $t0..$t3."""
    lo, hi = _bytes([0, 4, 1, 5]), _bytes([2, 6, 3, 7])
    a, b = _bytes([0, 1, 4, 5]), _bytes([2, 3, 6, 7])
    s = [_g(n) for n in src]
    return (f"(local.set $t0 (i8x16.shuffle {lo} {s[0]} {s[1]}))"
            f"(local.set $t1 (i8x16.shuffle {lo} {s[2]} {s[3]}))"
            f"(local.set $t2 (i8x16.shuffle {hi} {s[0]} {s[1]}))"
            f"(local.set $t3 (i8x16.shuffle {hi} {s[2]} {s[3]}))"
            f"(local.set ${dst[0]} (i8x16.shuffle {a} (local.get $t0) (local.get $t1)))"
            f"(local.set ${dst[1]} (i8x16.shuffle {b} (local.get $t0) (local.get $t1)))"
            f"(local.set ${dst[2]} (i8x16.shuffle {a} (local.get $t2) (local.get $t3)))"
            f"(local.set ${dst[3]} (i8x16.shuffle {b} (local.get $t2) (local.get $t3)))")


def _row_at(r: int) -> str:
    return f"(i32.add (local.get $p) (i32.mul (i32.const {r}) (local.get $wb)))"


def _rows_combine() -> str:
    """tmp rows d0..d5 -> B^T d, a vector at a time (in place)."""
    d = [f"d{r}" for r in range(6)]
    sets = "".join(f"(local.set $d{r} (v128.load {_row_at(r)}))" for r in range(6))
    stores = "".join(f"(v128.store {_row_at(r)} {_comb(BT[r], d)})" for r in range(6))
    return (f"(local.set $p (local.get $tmp)) (local.set $e (i32.add (local.get $tmp) (local.get $wb))) "
            f"(block $rce (loop $rcl (br_if $rce (i32.ge_u (local.get $p) (local.get $e))) {sets} {stores} "
            f"(local.set $p (i32.add (local.get $p) (i32.const 16))) (br $rcl)))")


def _cols_combine() -> str:
    """Per combined row i and 4 tiles: columns x0..x5 (stride-4 gathers), then d B into planes
    6i..6i+5."""
    loads = "".join(f"(local.set $d{r} (v128.load offset={16 * r} (local.get $p)))" for r in range(5))
    gather = _transpose(["d0", "d1", "d2", "d3"], ["x0", "x1", "x2", "x3"])
    gather += (f"(local.set $x4 (i8x16.shuffle {_bytes([1, 2, 3, 4])} (local.get $x0) (local.get $d4)))"
               f"(local.set $x5 (i8x16.shuffle {_bytes([1, 2, 3, 5])} (local.get $x1) (local.get $d4)))")
    x = [f"x{j}" for j in range(6)]
    stores = ""
    for j in range(6):
        stores += f"(v128.store (local.get $dst) {_comb(BT[j], x)})"
        if j < 5:
            stores += "(local.set $dst (i32.add (local.get $dst) (local.get $plane)))"
    body = f"""
        (local.set $p (i32.add (i32.add (local.get $tmp) (i32.mul (local.get $i) (local.get $wb)))
                               (i32.shl (local.get $q) (i32.const 4))))
        {loads} {gather}
        (local.set $dst (i32.add (i32.add (local.get $out) (i32.mul (i32.mul (local.get $i) (i32.const 6))
                         (local.get $plane))) (i32.shl (local.get $q) (i32.const 2))))
        {stores}"""
    return _for("$i", "(i32.const 6)", _for("$q", "(local.get $TWp)", body, "(i32.const 4)"))


_IN_TILE_ROW = (_for("$r", "(i32.const 6)", fill_row(2)) + _rows_combine() + """
      (local.set $out (i32.add (local.get $v) (i32.shl (i32.mul (i32.add (i32.mul (local.get $c) (local.get $TH))
                       (local.get $th)) (local.get $TWp)) (i32.const 2))))""" + _cols_combine())

WINO4_IN = f"""
  (func (export "wino4_in") (param $x i32) (param $v i32) (param $tmp i32) (param $C i32)
    (param $H i32) (param $W i32) (param $pt i32) (param $pl i32) (param $TH i32) (param $TWp i32)
    (local $c i32) (local $th i32) (local $r i32) (local $i i32) (local $q i32) (local $ih i32)
    (local $wb i32) (local $plane i32) (local $out i32) (local $dst i32) (local $p i32) (local $e i32)
    {" ".join(f"(local $d{r} v128)" for r in range(6))} {" ".join(f"(local $x{j} v128)" for j in range(6))}
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $wb (i32.shl (i32.add (i32.shl (local.get $TWp) (i32.const 2)) (i32.const 8)) (i32.const 2)))
    (local.set $plane (i32.shl (i32.mul (local.get $C) (i32.mul (local.get $TH) (local.get $TWp))) (i32.const 2)))
    {_for("$c", "(local.get $C)", _for("$th", "(local.get $TH)", _IN_TILE_ROW))})"""


def _out_body() -> str:
    """4 tiles of channel $m: A^T Y A + bias, floor, transposed into 4 rows of tmp."""
    text = "(local.set $src (i32.add (local.get $row) (i32.shl (local.get $q) (i32.const 2))))"
    started = set()
    for i in range(6):
        text += "".join(f"(local.set $y{j} (v128.load (i32.add (local.get $src) (i32.mul "
                        f"(i32.const {6 * i + j}) (local.get $plane)))))" for j in range(6))
        y = [f"y{j}" for j in range(6)]
        text += "".join(f"(local.set $s{b} {_comb(AT[b], y)})" for b in range(4))
        for a in range(4):
            c = AT[a][i]
            if c == 0:
                continue
            for b in range(4):
                term = _comb([c], [f"s{b}"])
                text += (f"(local.set $o{a}{b} {term})" if a not in started else
                         f"(local.set $o{a}{b} (f32x4.add (local.get $o{a}{b}) {term}))")
            started.add(a)
    for a in range(4):
        fin = [f"f{b}" for b in range(4)]
        text += "".join(f"(local.set $f{b} (f32x4.max (f32x4.add (local.get $o{a}{b}) (local.get $bv))"
                        f" (local.get $floor)))" for b in range(4))
        text += _transpose(fin, ["y0", "y1", "y2", "y3"])
        text += (f"(local.set $dst (i32.add (i32.add (local.get $tmp) (i32.mul (i32.const {a}) "
                 f"(local.get $rowb))) (i32.shl (local.get $q) (i32.const 4))))")
        text += "".join(f"(v128.store offset={16 * l} (local.get $dst) (local.get $y{l}))"
                        for l in range(4))
    return text


WINO4_OUT = output_function("wino4_out", _out_body(), 4, f"""(local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    {" ".join(f"(local $y{k} v128)" for k in range(6))} {" ".join(f"(local $s{b} v128)" for b in range(4))}
    {" ".join(f"(local $f{b} v128)" for b in range(4))}
    {" ".join(f"(local $o{a}{b} v128)" for a in range(4) for b in range(4))}""")

WINOGRAD4_FUNCS = [WINO4_IN, WINO4_OUT]
