"""WAT generator for the blocked SIMD128 GEMM: C = act(alpha * A @ B + bias + R), batched
(R: an optional residual laid out like C, added in the epilogue).

Micro-tiles of 4 or 1 rows by 8, 4 or 1 columns keep their accumulators in registers; the K
dimension is split into blocks of ``KC``. Per K block, A's rows are packed 4 at a time as
[k][4] (one load per k, lanes splatted by shuffles) and per 8-column panel B is packed as [k][8]
so the panel stays in L1 while every row block streams past it. Constant A (conv weights)
can come prepacked (``apre``, see ``pack_a``): then no block of A is packed at run time. (Measured on this design:
broadcast loads instead of shuffles, 12-wide tiles and unrolling K were all slower.)
"""

from __future__ import annotations

KC = 256
MC = 128                # rows per A block: a packed MC x KC block stays in L2
ROW_TILES = (4, 1)   # micro-tile heights, tallest first; 4-row tiles read a packed A
PANEL_BYTES = KC * 32   # the packed B panel (8 columns); A is packed right after it


def _tile(mr: int, nv: int, fma: bool) -> str:
    """Tile function ``$t{mr}x{nv}``: ``nv`` f32x4 vectors per row, or one scalar column (0)."""
    vec = nv > 0
    packed = mr == 4      # A packed as [k][4 rows]: one stream, broadcast-loaded per row
    cols = range(max(nv, 1))
    ty = "v128" if vec else "f32"
    acc = [[f"$c{r}_{v}" for v in cols] for r in range(mr)]
    locals_ = " ".join(f"(local {a} {ty})" for row in acc for a in row)
    locals_ += " ".join(f" (local $p{r} i32)" for r in range(mr))
    locals_ += f" (local $a {ty}) (local $av v128)" + "".join(f" (local $b{v} {ty})" for v in cols)
    add, mul, mx = (("f32x4.add", "f32x4.mul", "f32x4.max") if vec else
                    ("f32.add", "f32.mul", "f32.max"))
    load = "v128.load" if vec else "f32.load"
    store = "v128.store" if vec else "f32.store"
    zero = "(v128.const f32x4 0 0 0 0)" if vec else "(f32.const 0)"

    def at(base: str, r: int, v: int, ld: str) -> str:
        row = f"(i32.add (local.get {base}) (i32.mul (i32.const {r}) (local.get {ld})))"
        return f"(i32.add {row} (i32.const {16 * v}))" if v else row

    load_c = "".join(f"(local.set {acc[r][v]} ({load} {at('$pc', r, v, '$ldc')}))"
                     for r in range(mr) for v in cols)
    rows = "" if packed else "".join(f"(local.set $p{r} {at('$pa', r, 0, '$lda')})"
                                     for r in range(mr))
    kbody = "".join(f"(local.set $b{v} ({load} offset={16 * v} (local.get $pb)))" for v in cols)
    if packed:
        kbody += "(local.set $av (v128.load (local.get $pa)))"
    for r in range(mr):
        if packed and vec:
            lanes = " ".join(str(4 * r + i) for i in range(4))
            kbody += (f"(local.set $a (i8x16.shuffle {' '.join([lanes] * 4)} "
                      f"(local.get $av) (local.get $av)))")
        elif packed:
            kbody += f"(local.set $a (f32.load offset={4 * r} (local.get $pa)))"
        else:
            kbody += (f"(local.set $a ({'v128.load32_splat' if vec else 'f32.load'} "
                      f"(local.get $p{r})))"
                      f"(local.set $p{r} (i32.add (local.get $p{r}) (i32.const 4)))")
        if fma and vec:      # relaxed SIMD: one fused multiply-add where the CPU has one
            kbody += "".join(f"(local.set {acc[r][v]} (f32x4.relaxed_madd (local.get $a) "
                             f"(local.get $b{v}) (local.get {acc[r][v]})))" for v in cols)
        else:
            kbody += "".join(f"(local.set {acc[r][v]} ({add} (local.get {acc[r][v]}) "
                             f"({mul} (local.get $a) (local.get $b{v}))))" for v in cols)
    splat_alpha = "(f32x4.splat (local.get $alpha))" if vec else "(local.get $alpha)"
    epi = "".join(f"(local.set {acc[r][v]} ({mul} (local.get {acc[r][v]}) {splat_alpha}))"
                  for r in range(mr) for v in cols)
    row_bias = "".join(
        f"(local.set {acc[r][v]} ({add} (local.get {acc[r][v]}) "
        f"({'v128.load32_splat' if vec else 'f32.load'} offset={4 * r} (local.get $brow))))"
        for r in range(mr) for v in cols)
    col_bias = "".join(f"(local.set {acc[r][v]} ({add} (local.get {acc[r][v]}) "
                       f"({load} offset={16 * v} (local.get $bcol))))"
                       for r in range(mr) for v in cols)
    residual = "".join(f"(local.set {acc[r][v]} ({add} (local.get {acc[r][v]}) "
                       f"({load} {at('$pr', r, v, '$ldc')})))" for r in range(mr) for v in cols)
    relu = "".join(f"(local.set {acc[r][v]} ({mx} (local.get {acc[r][v]}) {zero}))"
                   for r in range(mr) for v in cols)
    stores = "".join(f"({store} {at('$pc', r, v, '$ldc')} (local.get {acc[r][v]}))"
                     for r in range(mr) for v in cols)
    return f"""
  (func $t{mr}x{nv} (param $pa i32) (param $pb i32) (param $pc i32) (param $kc i32)
    (param $lda i32) (param $ldb i32) (param $ldc i32) (param $first i32) (param $last i32)
    (param $brow i32) (param $bcol i32) (param $bmode i32) (param $act i32) (param $alpha f32)
    (param $pr i32)
    {locals_}
    (if (i32.eqz (local.get $first)) (then {load_c}))
    {rows}
    (block $e (loop $l (br_if $e (i32.eqz (local.get $kc)))
      {kbody}
      (local.set $pb (i32.add (local.get $pb) (local.get $ldb)))
      {"(local.set $pa (i32.add (local.get $pa) (i32.const 16)))" if packed else ""}
      (local.set $kc (i32.sub (local.get $kc) (i32.const 1)))
      (br $l)))
    (if (local.get $last) (then
      {epi}
      (if (i32.eq (local.get $bmode) (i32.const 1)) (then {row_bias}))
      (if (i32.eq (local.get $bmode) (i32.const 2)) (then {col_bias}))
      (if (local.get $pr) (then {residual}))
      (if (i32.eq (local.get $act) (i32.const 1)) (then {relu}))))
    {stores})"""


def _pack(nv: int) -> str:
    """Copy B[k0:k0+kc, j:j+4*nv] into the scratch panel (rows of 16*nv bytes)."""
    moves = "".join(f"(v128.store offset={16 * v} (local.get $dst) (v128.load offset={16 * v} "
                    f"(local.get $src)))" for v in range(nv))
    return f"""
        (local.set $src (i32.add (i32.add (local.get $B) (i32.mul (local.get $k0) (local.get $ldb)))
                                 (i32.shl (local.get $j) (i32.const 2))))
        (local.set $dst (local.get $scratch)) (local.set $kk (local.get $kc))
        (block $pe (loop $pl (br_if $pe (i32.eqz (local.get $kk)))
          {moves}
          (local.set $src (i32.add (local.get $src) (local.get $ldb)))
          (local.set $dst (i32.add (local.get $dst) (i32.const {16 * nv})))
          (local.set $kk (i32.sub (local.get $kk) (i32.const 1))) (br $pl)))"""


def _pack_a() -> str:
    """Pack the whole 4-row blocks of rows [i0, iend) of A[:, k0:k0+kc] as [block][k][4]."""
    lane = "(f32.load (i32.add (local.get $pa) (i32.mul (i32.const {r}) (local.get $lda))))"
    vec = f"(f32x4.splat {lane.format(r=0)})"
    for r in (1, 2, 3):
        vec = f"(f32x4.replace_lane {r} {vec} {lane.format(r=r)})"
    return f"""
        (local.set $dst (local.get $apack)) (local.set $ib (local.get $i0))
        (block $ae (loop $al (br_if $ae (i32.gt_s (i32.add (local.get $ib) (i32.const 4)) (local.get $iend)))
          (local.set $pa (i32.add (i32.add (local.get $A) (i32.mul (local.get $ib) (local.get $lda)))
                                  (i32.shl (local.get $k0) (i32.const 2))))
          (local.set $kk (local.get $kc))
          (block $ake (loop $akl (br_if $ake (i32.eqz (local.get $kk)))
            (v128.store (local.get $dst) {vec})
            (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
            (local.set $pa (i32.add (local.get $pa) (i32.const 4)))
            (local.set $kk (i32.sub (local.get $kk) (i32.const 1))) (br $akl)))
          (local.set $ib (i32.add (local.get $ib) (i32.const 4))) (br $al)))"""


def _rows(nv: int, width: int) -> str:
    """Run tiles of ``width`` columns at column $j down all rows (4 at a time, then 1); vector
    tiles read B from the packed panel."""
    if nv:
        b_ptr, b_ld = "(local.get $scratch)", f"(i32.const {16 * nv})"
    else:
        b_ptr = ("(i32.add (i32.add (local.get $B) (i32.mul (local.get $k0) (local.get $ldb))) "
                 "(i32.shl (local.get $j) (i32.const 2)))")
        b_ld = "(local.get $ldb)"

    def call(mr: int) -> str:
        a_ptr = ("(i32.add (local.get $apack) (i32.mul (i32.shl (i32.sub (local.get $i) "
                 "(local.get $i0)) (i32.const 2)) (local.get $kc)))" if mr == 4 else
                 "(i32.add (i32.add (local.get $A) (i32.mul (local.get $i) (local.get $lda))) "
                 "(i32.shl (local.get $k0) (i32.const 2)))")
        return (f"(call $t{mr}x{nv} {a_ptr} "
                f"{b_ptr} "
                f"(i32.add (i32.add (local.get $C) (i32.mul (local.get $i) (local.get $ldc))) "
                f"(i32.shl (local.get $j) (i32.const 2))) "
                f"(local.get $kc) (local.get $lda) {b_ld} (local.get $ldc) "
                f"(local.get $first) (local.get $last) "
                f"(i32.add (local.get $bias) (i32.shl (local.get $i) (i32.const 2))) "
                f"(i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))) "
                f"(local.get $bmode) (local.get $act) (local.get $alpha) "
                f"(select (i32.add (i32.add (local.get $R) (i32.mul (local.get $i) (local.get $ldc))) "
                f"(i32.shl (local.get $j) (i32.const 2))) (i32.const 0) (local.get $R)))")
    loops = "".join(f"""
        (block $r{mr}e (loop $r{mr} (br_if $r{mr}e (i32.gt_s (i32.add (local.get $i) (i32.const {mr})) (local.get $iend)))
          {call(mr)} (local.set $i (i32.add (local.get $i) (i32.const {mr}))) (br $r{mr})))"""
                    for mr in ROW_TILES)
    return (_pack(nv) if nv else "") + f"""
        (local.set $i (local.get $i0)) {loops}
        (local.set $j (i32.add (local.get $j) (i32.const {width})))"""


def gemm_module_text(fma: bool = False) -> str:
    """Tile functions plus the exported ``gemm`` (``fma``: relaxed-SIMD multiply-adds)."""
    tiles = "".join(_tile(mr, nv, fma) for mr in ROW_TILES for nv in (2, 1, 0))
    return tiles + f"""
  (func (export "gemm") (param $A i32) (param $B i32) (param $C i32) (param $bias i32)
    (param $M i32) (param $N i32) (param $K i32) (param $lda i32) (param $ldb i32) (param $ldc i32)
    (param $bmode i32) (param $act i32) (param $alpha f32)
    (param $batch i32) (param $sa i32) (param $sb i32) (param $sc i32) (param $scratch i32)
    (param $apre i32) (param $R i32)
    (local $apack i32) (local $m4 i32) (local $ib i32) (local $pa i32) (local $bi i32) (local $k0 i32) (local $kc i32) (local $first i32) (local $last i32)
    (local $i i32) (local $j i32) (local $i0 i32) (local $iend i32) (local $src i32) (local $dst i32) (local $kk i32)
    (local.set $m4 (i32.and (local.get $M) (i32.const -4)))
    (local.set $lda (i32.shl (local.get $lda) (i32.const 2)))
    (local.set $ldb (i32.shl (local.get $ldb) (i32.const 2)))
    (local.set $ldc (i32.shl (local.get $ldc) (i32.const 2)))
    (block $be (loop $bl (br_if $be (i32.ge_s (local.get $bi) (local.get $batch)))
      (local.set $k0 (i32.const 0))
      (block $ke (loop $kl (br_if $ke (i32.ge_s (local.get $k0) (local.get $K)))
        (local.set $kc (i32.sub (local.get $K) (local.get $k0)))
        (if (i32.gt_s (local.get $kc) (i32.const {KC})) (then (local.set $kc (i32.const {KC}))))
        (local.set $first (i32.eqz (local.get $k0)))
        (local.set $last (i32.eq (i32.add (local.get $k0) (local.get $kc)) (local.get $K)))
        (local.set $i0 (i32.const 0))
        (block $me (loop $ml (br_if $me (i32.ge_s (local.get $i0) (local.get $M)))
        (local.set $iend (i32.add (local.get $i0) (i32.const {MC})))
        (if (i32.gt_s (local.get $iend) (local.get $M)) (then (local.set $iend (local.get $M))))
        (if (local.get $apre)
          (then (local.set $apack (i32.add (local.get $apre) (i32.shl (i32.add
                  (i32.mul (local.get $k0) (local.get $m4)) (i32.mul (local.get $i0) (local.get $kc)))
                  (i32.const 2)))))
          (else (local.set $apack (i32.add (local.get $scratch) (i32.const {PANEL_BYTES})))
                {_pack_a()}))
        (local.set $j (i32.const 0))
        (block $j8e (loop $j8 (br_if $j8e (i32.gt_s (i32.add (local.get $j) (i32.const 8)) (local.get $N)))
          {_rows(2, 8)} (br $j8)))
        (if (i32.le_s (i32.add (local.get $j) (i32.const 4)) (local.get $N)) (then {_rows(1, 4)}))
        (block $j1e (loop $j1 (br_if $j1e (i32.ge_s (local.get $j) (local.get $N)))
          {_rows(0, 1)} (br $j1)))
        (local.set $i0 (local.get $iend)) (br $ml)))
        (local.set $k0 (i32.add (local.get $k0) (local.get $kc)))
        (br $kl)))
      (local.set $A (i32.add (local.get $A) (i32.shl (local.get $sa) (i32.const 2))))
      (local.set $B (i32.add (local.get $B) (i32.shl (local.get $sb) (i32.const 2))))
      (local.set $C (i32.add (local.get $C) (i32.shl (local.get $sc) (i32.const 2))))
      (if (local.get $R) (then (local.set $R (i32.add (local.get $R) (i32.shl (local.get $sc) (i32.const 2))))))
      (if (local.get $apre) (then (local.set $apre (i32.add (local.get $apre)
            (i32.shl (i32.mul (local.get $K) (local.get $m4)) (i32.const 2))))))
      (local.set $bi (i32.add (local.get $bi) (i32.const 1)))
      (br $bl))))"""



def pack_a(a):
    """Constant A ([batch,] M, K) in the layout the GEMM packs it into (``apre``): per batch
    item, per K block of ``KC``, the whole 4-row blocks as [block][k][4]; rows past the last
    whole block are read from A itself."""
    import numpy as np
    a = np.asarray(a, dtype=np.float32)
    a = a.reshape((-1,) + a.shape[-2:])
    m4 = a.shape[1] // 4 * 4
    parts = []
    for item in a:
        for k0 in range(0, item.shape[1], KC):
            block = item[:m4, k0:k0 + KC]
            parts.append(block.reshape(m4 // 4, 4, block.shape[1]).transpose(0, 2, 1).ravel())
    return np.ascontiguousarray(np.concatenate(parts) if parts else np.zeros(0, np.float32))
