"""WAT for Winograd F(2x2, 3x3) convolution transforms (3x3, stride 1, one group).

Tiles are 4x4 input patches (2x2 outputs), laid out as a grid of TH rows by TWp columns (TWp: the
tile columns rounded up to 4, so every vector covers 4 whole tiles). ``wino_in`` writes
V = B^T d B for every channel and tile as 16 planes [16][C][TH*TWp]; 16 batched GEMMs with the
transformed weights give Y [16][M][TH*TWp]; ``wino_out`` applies A^T Y A, the bias and the Relu
floor and writes the valid outputs. Both work on 4 tiles per f32x4: rows are combined as whole
vectors, columns by even/odd lane shuffles.
"""

from __future__ import annotations

EVEN = "0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27"     # lanes 0 2 of a, 0 2 of b
ODD = "4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31"     # lanes 1 3 of a, 1 3 of b
ZIP_LO = "0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23"      # a0 b0 a1 b1
ZIP_HI = "8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31"  # a2 b2 a3 b3


def _for(var: str, limit: str, body: str, step: str = "(i32.const 1)") -> str:
    name = var[1:]
    return (f"(local.set {var} (i32.const 0)) (block ${name}e (loop ${name}l "
            f"(br_if ${name}e (i32.ge_s (local.get {var}) {limit})) {body} "
            f"(local.set {var} (i32.add (local.get {var}) {step})) (br ${name}l)))")


def _g(name: str) -> str:
    return f"(local.get ${name})"


def _v(op: str, a: str, b: str) -> str:
    return f"(f32x4.{op} {a} {b})"


def fill_row(tile_shift: int) -> str:
    """One padded input row ``r`` of the current tile row (tiles ``1 << tile_shift`` outputs
    apart) into tmp row ``r``: zeros, the image row at column pl, zeros."""
    return _FILL_ROW.replace("{shift}", str(tile_shift))


_FILL_ROW = """
      (local.set $dst (i32.add (local.get $tmp) (i32.mul (local.get $r) (local.get $wb))))
      (local.set $ih (i32.add (i32.sub (i32.shl (local.get $th) (i32.const {shift})) (local.get $pt)) (local.get $r)))
      (if (i32.or (i32.lt_s (local.get $ih) (i32.const 0)) (i32.ge_s (local.get $ih) (local.get $H)))
        (then (memory.fill (local.get $dst) (i32.const 0) (local.get $wb)))
        (else
          (memory.fill (local.get $dst) (i32.const 0) (i32.shl (local.get $pl) (i32.const 2)))
          (memory.copy (i32.add (local.get $dst) (i32.shl (local.get $pl) (i32.const 2)))
                       (i32.add (local.get $x) (i32.shl (i32.mul (i32.add (i32.mul (local.get $c) (local.get $H))
                                (local.get $ih)) (local.get $W)) (i32.const 2)))
                       (i32.shl (local.get $W) (i32.const 2)))
          (memory.fill (i32.add (local.get $dst) (i32.shl (i32.add (local.get $pl) (local.get $W)) (i32.const 2)))
                       (i32.const 0)
                       (i32.sub (local.get $wb) (i32.shl (i32.add (local.get $pl) (local.get $W)) (i32.const 2))))))"""


def _rows_combine() -> str:
    """tmp rows d0..d3 -> B^T d: d0-d2, d1+d2, d2-d1, d1-d3, a vector at a time."""
    ld = [f"(v128.load offset={0} (i32.add (local.get $p) (i32.mul (i32.const {r}) (local.get $wb))))"
          for r in range(4)]
    sets = "".join(f"(local.set $d{r} {ld[r]})" for r in range(4))
    outs = [_v("sub", _g("d0"), _g("d2")), _v("add", _g("d1"), _g("d2")),
            _v("sub", _g("d2"), _g("d1")), _v("sub", _g("d1"), _g("d3"))]
    stores = "".join(f"(v128.store (i32.add (local.get $p) (i32.mul (i32.const {r}) (local.get $wb))) "
                     f"{outs[r]})" for r in range(4))
    return (f"(local.set $p (local.get $tmp)) (local.set $e (i32.add (local.get $tmp) (local.get $wb))) "
            f"(block $rce (loop $rcl (br_if $rce (i32.ge_u (local.get $p) (local.get $e))) {sets} {stores} "
            f"(local.set $p (i32.add (local.get $p) (i32.const 16))) (br $rcl)))")


def _cols_combine() -> str:
    """For each combined row i and 4 tiles: columns c0..c3 by shuffles, then d B, stored in
    planes 4i..4i+3."""
    body = f"""
        (local.set $p (i32.add (i32.add (local.get $tmp) (i32.mul (local.get $i) (local.get $wb)))
                               (i32.shl (local.get $q) (i32.const 3))))
        (local.set $a (v128.load (local.get $p))) (local.set $b (v128.load offset=16 (local.get $p)))
        (local.set $d0 (i8x16.shuffle {EVEN} (local.get $a) (local.get $b)))
        (local.set $d1 (i8x16.shuffle {ODD} (local.get $a) (local.get $b)))
        (local.set $a (v128.load offset=8 (local.get $p))) (local.set $b (v128.load offset=24 (local.get $p)))
        (local.set $d2 (i8x16.shuffle {EVEN} (local.get $a) (local.get $b)))
        (local.set $d3 (i8x16.shuffle {ODD} (local.get $a) (local.get $b)))
        (local.set $dst (i32.add (i32.add (local.get $out) (i32.mul (i32.shl (local.get $i) (i32.const 2))
                         (local.get $plane))) (i32.shl (local.get $q) (i32.const 2))))
        (v128.store (local.get $dst) {_v("sub", _g("d0"), _g("d2"))})
        (local.set $dst (i32.add (local.get $dst) (local.get $plane)))
        (v128.store (local.get $dst) {_v("add", _g("d1"), _g("d2"))})
        (local.set $dst (i32.add (local.get $dst) (local.get $plane)))
        (v128.store (local.get $dst) {_v("sub", _g("d2"), _g("d1"))})
        (local.set $dst (i32.add (local.get $dst) (local.get $plane)))
        (v128.store (local.get $dst) {_v("sub", _g("d1"), _g("d3"))})"""
    return _for("$i", "(i32.const 4)", _for("$q", "(local.get $TWp)", body, "(i32.const 4)"))


WINO_IN = f"""
  (func (export "wino_in") (param $x i32) (param $v i32) (param $tmp i32) (param $C i32)
    (param $H i32) (param $W i32) (param $pt i32) (param $pl i32) (param $TH i32) (param $TWp i32)
    (local $c i32) (local $th i32) (local $r i32) (local $i i32) (local $q i32) (local $ih i32)
    (local $wb i32) (local $plane i32) (local $out i32) (local $dst i32) (local $p i32) (local $e i32)
    (local $a v128) (local $b v128) (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $d3 v128)
    (local.set $wb (i32.shl (i32.add (i32.shl (local.get $TWp) (i32.const 1)) (i32.const 4)) (i32.const 2)))
    (local.set $plane (i32.shl (i32.mul (local.get $C) (i32.mul (local.get $TH) (local.get $TWp))) (i32.const 2)))
    {_for("$c", "(local.get $C)", _for("$th", "(local.get $TH)", f'''
      {_for("$r", "(i32.const 4)", fill_row(1))}
      {_rows_combine()}
      (local.set $out (i32.add (local.get $v) (i32.shl (i32.mul (i32.add (i32.mul (local.get $c) (local.get $TH))
                       (local.get $th)) (local.get $TWp)) (i32.const 2))))
      {_cols_combine()}'''))})"""


def _out_body() -> str:
    """4 tiles of output channel $m, tile row $th: A^T Y A + bias, floor, interleaved into tmp."""
    loads = "".join(
        f"(local.set $y{k} (v128.load (i32.add (local.get $src) (i32.mul (i32.const {k}) "
        f"(local.get $plane)))))" for k in range(16))
    s = []
    for i in range(4):
        y = [_g(f"y{4 * i + j}") for j in range(4)]
        s.append((_v("add", _v("add", y[0], y[1]), y[2]), _v("sub", _v("sub", y[1], y[2]), y[3])))
    sets = "".join(f"(local.set $s{i}{b} {s[i][b]})" for i in range(4) for b in range(2))
    out = {}
    for b in range(2):
        out[0, b] = _v("add", _v("add", _g(f"s0{b}"), _g(f"s1{b}")), _g(f"s2{b}"))
        out[1, b] = _v("sub", _v("sub", _g(f"s1{b}"), _g(f"s2{b}")), _g(f"s3{b}"))
    fin = {k: _v("max", _v("add", e, _g("bv")), _g("floor")) for k, e in out.items()}
    stores = ""
    for a in range(2):
        stores += (f"(local.set $o0 {fin[a, 0]}) (local.set $o1 {fin[a, 1]})"
                   f"(local.set $dst (i32.add (i32.add (local.get $tmp) (i32.mul (i32.const {a}) "
                   f"(local.get $rowb))) (i32.shl (local.get $q) (i32.const 3))))"
                   f"(v128.store (local.get $dst) (i8x16.shuffle {ZIP_LO} (local.get $o0) (local.get $o1)))"
                   f"(v128.store offset=16 (local.get $dst) (i8x16.shuffle {ZIP_HI} (local.get $o0) (local.get $o1)))")
    return f"""
        (local.set $src (i32.add (local.get $row) (i32.shl (local.get $q) (i32.const 2))))
        {loads} {sets} {stores}"""


def output_channel(out_body: str, tile: int) -> str:
    """One output channel of an output transform: load its bias, then for each tile row run
    ``out_body`` over groups of 4 tiles and copy the ``tile`` finished rows to the output (rows
    past ``OH`` are dropped). Shared by F(2x2,3x3) (``tile=2``) and F(4x4,3x3) (``tile=4``)."""
    shift = tile.bit_length() - 1
    copy_rows = _for("$a", f"(i32.const {tile})", f"""
          (local.set $oh (i32.add (i32.shl (local.get $th) (i32.const {shift})) (local.get $a)))
          (if (i32.lt_s (local.get $oh) (local.get $OH)) (then
            (memory.copy (i32.add (local.get $out) (i32.shl (i32.mul (i32.add (i32.mul (local.get $m)
                          (local.get $OH)) (local.get $oh)) (local.get $OW)) (i32.const 2)))
                         (i32.add (local.get $tmp) (i32.mul (local.get $a) (local.get $rowb)))
                         (i32.shl (local.get $OW) (i32.const 2)))))""")
    tile_row = ("""
        (local.set $row (i32.add (local.get $ybuf) (i32.shl (i32.mul (i32.add (i32.mul (local.get $m)
                         (local.get $TH)) (local.get $th)) (local.get $TWp)) (i32.const 2))))"""
                + _for("$q", "(local.get $TWp)", out_body, "(i32.const 4)") + copy_rows)
    return """
      (local.set $bv (if (result v128) (local.get $bias)
        (then (v128.load32_splat (i32.add (local.get $bias) (i32.shl (local.get $m) (i32.const 2)))))
        (else (v128.const f32x4 0 0 0 0))))""" + _for("$th", "(local.get $TH)", tile_row)


def output_function(name: str, out_body: str, tile: int, vector_locals: str) -> str:
    """The exported output transform ``name``: its signature and shared locals, the plane and
    row sizes, the ReLU floor, then ``output_channel`` over every channel. ``vector_locals``:
    the v128 locals ``out_body`` uses besides ``$bv`` and ``$floor``."""
    return f"""
  (func (export "{name}") (param $ybuf i32) (param $out i32) (param $tmp i32) (param $bias i32)
    (param $M i32) (param $OH i32) (param $OW i32) (param $TH i32) (param $TWp i32) (param $relu i32)
    (local $m i32) (local $th i32) (local $q i32) (local $a i32) (local $oh i32) (local $plane i32)
    (local $row i32) (local $src i32) (local $dst i32) (local $rowb i32)
    (local $bv v128) (local $floor v128) {vector_locals}
    (local.set $plane (i32.shl (i32.mul (local.get $M) (i32.mul (local.get $TH) (local.get $TWp))) (i32.const 2)))
    (local.set $rowb (i32.shl (local.get $TWp) (i32.const {tile.bit_length() + 1})))
    (local.set $floor (if (result v128) (local.get $relu) (then (v128.const f32x4 0 0 0 0))
                        (else (f32x4.splat (f32.const -inf)))))
    {_for("$m", "(local.get $M)", output_channel(out_body, tile))})"""


WINO_OUT = output_function("wino_out", _out_body(), 2, f"""(local $o0 v128) (local $o1 v128)
    {" ".join(f"(local $y{k} v128)" for k in range(16))}
    {" ".join(f"(local $s{i}{b} v128)" for i in range(4) for b in range(2))}""")

WINOGRAD_FUNCS = [WINO_IN, WINO_OUT]
