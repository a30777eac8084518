"""WAT for the neural-network kernels: im2col, pooling, softmax, layer norm and copies."""

from __future__ import annotations

from ronn_wasm.wat_math import f4
from ronn_wasm.wat_winograd import EVEN, ODD, _for


def _loop(var: str, limit: str, body: str, step: int = 1) -> str:
    """``for var in range(0, limit, step): body`` (var is reset to 0 first)."""
    return (f"(local.set {var} (i32.const 0)) (block ${var[1:]}e (loop ${var[1:]}l "
            f"(br_if ${var[1:]}e (i32.ge_s (local.get {var}) {limit})) {body} "
            f"(local.set {var} (i32.add (local.get {var}) (i32.const {step}))) (br ${var[1:]}l)))")


IM2COL = """
  (func (export "im2col") (param $x i32) (param $col i32) (param $C i32) (param $H i32) (param $W i32)
    (param $kh i32) (param $kw i32) (param $sh i32) (param $sw i32) (param $pt i32) (param $pl i32)
    (param $dh i32) (param $dw i32) (param $OH i32) (param $OW i32)
    (local $c i32) (local $ki i32) (local $kj i32) (local $oh i32) (local $ow i32) (local $ih i32)
    (local $iw i32) (local $row i32) (local $lo i32) (local $hi i32) (local $off i32)
    (local $d i32) (local $s i32) (local $e i32)
    """ + _loop("$c", "(local.get $C)", _loop("$ki", "(local.get $kh)", _loop("$kj", "(local.get $kw)", """
      (local.set $off (i32.sub (i32.mul (local.get $kj) (local.get $dw)) (local.get $pl)))
      ;; stride 1: copy the valid output columns lo..hi, zero the rest
      (local.set $lo (i32.sub (i32.const 0) (local.get $off)))
      (if (i32.lt_s (local.get $lo) (i32.const 0)) (then (local.set $lo (i32.const 0))))
      (if (i32.gt_s (local.get $lo) (local.get $OW)) (then (local.set $lo (local.get $OW))))
      (local.set $hi (i32.sub (local.get $W) (local.get $off)))
      (if (i32.gt_s (local.get $hi) (local.get $OW)) (then (local.set $hi (local.get $OW))))
      (if (i32.lt_s (local.get $hi) (local.get $lo)) (then (local.set $hi (local.get $lo))))
      """ + _loop("$oh", "(local.get $OH)", """
        (local.set $ih (i32.add (i32.sub (i32.mul (local.get $oh) (local.get $sh)) (local.get $pt))
                                (i32.mul (local.get $ki) (local.get $dh))))
        (if (i32.or (i32.lt_s (local.get $ih) (i32.const 0)) (i32.ge_s (local.get $ih) (local.get $H)))
          (then (memory.fill (local.get $col) (i32.const 0) (i32.shl (local.get $OW) (i32.const 2))))
          (else
            (local.set $row (i32.add (local.get $x) (i32.shl (i32.mul (i32.add (i32.mul (local.get $c)
                    (local.get $H)) (local.get $ih)) (local.get $W)) (i32.const 2))))
            (if (i32.eq (local.get $sw) (i32.const 1))
              (then   ;; short rows: inline loops beat memory.copy/fill calls
                """ + _loop("$ow", "(local.get $lo)", """
                (f32.store (i32.add (local.get $col) (i32.shl (local.get $ow) (i32.const 2))) (f32.const 0))""") + """
                (local.set $d (i32.add (local.get $col) (i32.shl (local.get $lo) (i32.const 2))))
                (local.set $s (i32.add (local.get $row) (i32.shl (i32.add (local.get $lo) (local.get $off)) (i32.const 2))))
                (local.set $e (i32.add (local.get $col) (i32.shl (local.get $hi) (i32.const 2))))
                (block $ce2 (loop $cl2 (br_if $ce2 (i32.ge_u (local.get $d) (local.get $e)))
                  (v128.store (local.get $d) (v128.load (local.get $s)))   ;; overshoot is rewritten below
                  (local.set $d (i32.add (local.get $d) (i32.const 16)))
                  (local.set $s (i32.add (local.get $s) (i32.const 16))) (br $cl2)))
                (local.set $ow (local.get $hi))
                (block $ze (loop $zl (br_if $ze (i32.ge_s (local.get $ow) (local.get $OW)))
                  (f32.store (i32.add (local.get $col) (i32.shl (local.get $ow) (i32.const 2))) (f32.const 0))
                  (local.set $ow (i32.add (local.get $ow) (i32.const 1))) (br $zl))))
              (else (if (i32.eq (local.get $sw) (i32.const 2))
               (then   ;; stride 2: valid columns lo..hi, 4 at a time from the even lanes of 8
                (local.set $lo (i32.const 0))
                (if (i32.lt_s (local.get $off) (i32.const 0))
                  (then (local.set $lo (i32.shr_s (i32.sub (i32.const 1) (local.get $off)) (i32.const 1)))))
                (local.set $hi (i32.const 0))
                (if (i32.ge_s (i32.sub (i32.sub (local.get $W) (i32.const 1)) (local.get $off)) (i32.const 0))
                  (then (local.set $hi (i32.add (i32.shr_s (i32.sub (i32.sub (local.get $W) (i32.const 1))
                                                                    (local.get $off)) (i32.const 1)) (i32.const 1)))))
                (if (i32.gt_s (local.get $hi) (local.get $OW)) (then (local.set $hi (local.get $OW))))
                (if (i32.gt_s (local.get $lo) (local.get $OW)) (then (local.set $lo (local.get $OW))))
                (if (i32.lt_s (local.get $hi) (local.get $lo)) (then (local.set $hi (local.get $lo))))
                """ + _loop("$ow", "(local.get $lo)", """
                (f32.store (i32.add (local.get $col) (i32.shl (local.get $ow) (i32.const 2))) (f32.const 0))""") + """
                (local.set $ow (local.get $lo))
                (block $v2e (loop $v2l (br_if $v2e (i32.gt_s (i32.add (local.get $ow) (i32.const 4)) (local.get $hi)))
                  (local.set $s (i32.add (local.get $row) (i32.shl (i32.add (i32.shl (local.get $ow) (i32.const 1))
                                                                            (local.get $off)) (i32.const 2))))
                  (v128.store (i32.add (local.get $col) (i32.shl (local.get $ow) (i32.const 2)))
                    (i8x16.shuffle """ + EVEN + """ (v128.load (local.get $s)) (v128.load offset=16 (local.get $s))))
                  (local.set $ow (i32.add (local.get $ow) (i32.const 4))) (br $v2l)))
                (block $t2e (loop $t2l (br_if $t2e (i32.ge_s (local.get $ow) (local.get $hi)))
                  (f32.store (i32.add (local.get $col) (i32.shl (local.get $ow) (i32.const 2)))
                    (f32.load (i32.add (local.get $row) (i32.shl (i32.add (i32.shl (local.get $ow) (i32.const 1))
                                                                          (local.get $off)) (i32.const 2)))))
                  (local.set $ow (i32.add (local.get $ow) (i32.const 1))) (br $t2l)))
                (block $z2e (loop $z2l (br_if $z2e (i32.ge_s (local.get $ow) (local.get $OW)))
                  (f32.store (i32.add (local.get $col) (i32.shl (local.get $ow) (i32.const 2))) (f32.const 0))
                  (local.set $ow (i32.add (local.get $ow) (i32.const 1))) (br $z2l))))
               (else """ + _loop("$ow", "(local.get $OW)", """
                (local.set $iw (i32.add (i32.mul (local.get $ow) (local.get $sw)) (local.get $off)))
                (f32.store (i32.add (local.get $col) (i32.shl (local.get $ow) (i32.const 2)))
                  (if (result f32) (i32.and (i32.ge_s (local.get $iw) (i32.const 0))
                                            (i32.lt_s (local.get $iw) (local.get $W)))
                    (then (f32.load (i32.add (local.get $row) (i32.shl (local.get $iw) (i32.const 2)))))
                    (else (f32.const 0))))""") + """))))))
        (local.set $col (i32.add (local.get $col) (i32.shl (local.get $OW) (i32.const 2))))""")))) + ")"


def _pool(name: str, init: str, combine: str, finish: str) -> str:
    """Pooling over P planes of H x W; ``combine`` folds $v into $acc, ``finish`` yields f32."""
    return """
  (func (export "%s") (param $x i32) (param $y i32) (param $P i32) (param $H i32) (param $W i32)
    (param $kh i32) (param $kw i32) (param $sh i32) (param $sw i32) (param $pt i32) (param $pl i32)
    (param $OH i32) (param $OW i32) (param $include_pad i32)
    (local $p i32) (local $oh i32) (local $ow i32) (local $ki i32) (local $kj i32) (local $ih i32)
    (local $iw i32) (local $acc f32) (local $cnt i32) (local $v f32) (local $plane i32)
    """ % name + _loop("$p", "(local.get $P)", """
      (local.set $plane (i32.add (local.get $x) (i32.shl (i32.mul (local.get $p)
                        (i32.mul (local.get $H) (local.get $W))) (i32.const 2))))
      """ + _loop("$oh", "(local.get $OH)", _loop("$ow", "(local.get $OW)", f"""
        (local.set $acc {init}) (local.set $cnt (i32.const 0))
        """ + _loop("$ki", "(local.get $kh)", _loop("$kj", "(local.get $kw)", f"""
          (local.set $ih (i32.add (i32.sub (i32.mul (local.get $oh) (local.get $sh)) (local.get $pt)) (local.get $ki)))
          (local.set $iw (i32.add (i32.sub (i32.mul (local.get $ow) (local.get $sw)) (local.get $pl)) (local.get $kj)))
          (if (i32.and (i32.and (i32.ge_s (local.get $ih) (i32.const 0)) (i32.lt_s (local.get $ih) (local.get $H)))
                       (i32.and (i32.ge_s (local.get $iw) (i32.const 0)) (i32.lt_s (local.get $iw) (local.get $W))))
            (then
              (local.set $v (f32.load (i32.add (local.get $plane) (i32.shl (i32.add (i32.mul (local.get $ih)
                              (local.get $W)) (local.get $iw)) (i32.const 2)))))
              {combine}
              (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))))""")) + f"""
        (f32.store (local.get $y) {finish})
        (local.set $y (i32.add (local.get $y) (i32.const 4)))"""))) + ")"


MAXPOOL = _pool("maxpool", "(f32.const -inf)", "(local.set $acc (f32.max (local.get $acc) (local.get $v)))",
                "(local.get $acc)")
AVGPOOL = _pool("avgpool", "(f32.const 0)", "(local.set $acc (f32.add (local.get $acc) (local.get $v)))",
                "(f32.div (local.get $acc) (f32.convert_i32_s (if (result i32) (local.get $include_pad)"
                " (then (i32.mul (local.get $kh) (local.get $kw))) (else (local.get $cnt)))))")


def _row_sum(src: str, expr: str, dst: str) -> str:
    """Set f32 local ``dst`` to the sum over a row of ``expr`` ($v: the loaded vector)."""
    scalar = expr.replace("f32x4.", "f32.").replace("$v", "$s").replace("$mean4", "$mean")
    return f"""
      (local.set $acc (v128.const f32x4 0 0 0 0)) (local.set $j (i32.const 0))
      (block $se (loop $sl (br_if $se (i32.gt_s (i32.add (local.get $j) (i32.const 4)) (local.get $n)))
        (local.set $v (v128.load (i32.add {src} (i32.shl (local.get $j) (i32.const 2)))))
        (local.set $acc (f32x4.add (local.get $acc) {expr}))
        (local.set $j (i32.add (local.get $j) (i32.const 4))) (br $sl)))
      (local.set {dst} (f32.add (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
                                (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc)))))
      (block $te (loop $tl (br_if $te (i32.ge_s (local.get $j) (local.get $n)))
        (local.set $s (f32.load (i32.add {src} (i32.shl (local.get $j) (i32.const 2)))))
        (local.set {dst} (f32.add (local.get {dst}) {scalar}))
        (local.set $j (i32.add (local.get $j) (i32.const 1))) (br $tl)))"""


_ROW_LOCALS = ("(local $r i32) (local $j i32) (local $acc v128) (local $v v128) (local $s f32) "
               "(local $px i32) (local $py i32)")


def _each(body_v: str, body_s: str) -> str:
    """Over row $py: vectors while 4 fit, then scalars; $v / $s hold y's current value."""
    return f"""
      (local.set $j (i32.const 0))
      (block $ve (loop $vl (br_if $ve (i32.gt_s (i32.add (local.get $j) (i32.const 4)) (local.get $n)))
        (local.set $v (v128.load (i32.add (local.get $py) (i32.shl (local.get $j) (i32.const 2)))))
        (v128.store (i32.add (local.get $py) (i32.shl (local.get $j) (i32.const 2))) {body_v})
        (local.set $j (i32.add (local.get $j) (i32.const 4))) (br $vl)))
      (block $ue (loop $ul (br_if $ue (i32.ge_s (local.get $j) (local.get $n)))
        (local.set $s (f32.load (i32.add (local.get $py) (i32.shl (local.get $j) (i32.const 2)))))
        (f32.store (i32.add (local.get $py) (i32.shl (local.get $j) (i32.const 2))) {body_s})
        (local.set $j (i32.add (local.get $j) (i32.const 1))) (br $ul)))"""


def _rows(name: str, params: str, locals_: str, body: str) -> str:
    return f"""
  (func (export "{name}") (param $x i32) (param $y i32) (param $rows i32) (param $n i32) {params}
    {_ROW_LOCALS} {locals_}
    """ + _loop("$r", "(local.get $rows)", f"""
      (local.set $px (i32.add (local.get $x) (i32.shl (i32.mul (local.get $r) (local.get $n)) (i32.const 2))))
      (local.set $py (i32.add (local.get $y) (i32.shl (i32.mul (local.get $r) (local.get $n)) (i32.const 2))))
      {body}""") + ")"


SOFTMAX = _rows("softmax", "", "(local $max f32) (local $sum f32) (local $max4 v128)", f"""
      (memory.copy (local.get $py) (local.get $px) (i32.shl (local.get $n) (i32.const 2)))
      (local.set $max (f32.const -inf)) (local.set $j (i32.const 0))
      (block $me (loop $ml (br_if $me (i32.ge_s (local.get $j) (local.get $n)))
        (local.set $max (f32.max (local.get $max) (f32.load (i32.add (local.get $px) (i32.shl (local.get $j) (i32.const 2))))))
        (local.set $j (i32.add (local.get $j) (i32.const 1))) (br $ml)))
      (local.set $max4 (f32x4.splat (local.get $max)))
      {_each("(call $exp4 (f32x4.sub (local.get $v) (local.get $max4)))",
             "(call $exp1 (f32.sub (local.get $s) (local.get $max)))")}
      {_row_sum("(local.get $py)", "(local.get $v)", "$sum")}
      (local.set $sum (f32.div (f32.const 1) (local.get $sum)))
      (local.set $max4 (f32x4.splat (local.get $sum)))
      {_each("(f32x4.mul (local.get $v) (local.get $max4))", "(f32.mul (local.get $s) (local.get $sum))")}""")

LAYERNORM = _rows("layernorm", "(param $g i32) (param $b i32) (param $eps f32)",
                  "(local $mean f32) (local $var f32) (local $mean4 v128) (local $rstd4 v128) (local $rstd f32)",
                  f"""
      {_row_sum("(local.get $px)", "(local.get $v)", "$mean")}
      (local.set $mean (f32.div (local.get $mean) (f32.convert_i32_s (local.get $n))))
      (local.set $mean4 (f32x4.splat (local.get $mean)))
      {_row_sum("(local.get $px)", "(f32x4.mul (f32x4.sub (local.get $v) (local.get $mean4)) (f32x4.sub (local.get $v) (local.get $mean4)))", "$var")}
      (local.set $rstd (f32.div (f32.const 1) (f32.sqrt (f32.add (f32.div (local.get $var)
                        (f32.convert_i32_s (local.get $n))) (local.get $eps)))))
      (local.set $rstd4 (f32x4.splat (local.get $rstd)))
      (memory.copy (local.get $py) (local.get $px) (i32.shl (local.get $n) (i32.const 2)))
      {_each("(f32x4.add (f32x4.mul (f32x4.mul (f32x4.sub (local.get $v) (local.get $mean4)) (local.get $rstd4)) "
             "(v128.load (i32.add (local.get $g) (i32.shl (local.get $j) (i32.const 2))))) "
             "(if (result v128) (local.get $b) (then (v128.load (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))) "
             f"(else {f4(0.0)})))",
             "(f32.add (f32.mul (f32.mul (f32.sub (local.get $s) (local.get $mean)) (local.get $rstd)) "
             "(f32.load (i32.add (local.get $g) (i32.shl (local.get $j) (i32.const 2))))) "
             "(if (result f32) (local.get $b) (then (f32.load (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))) "
             "(else (f32.const 0))))")}""")

GAP = _rows("row_mean", "", "(local $sum f32)", f"""
      {_row_sum("(local.get $px)", "(local.get $v)", "$sum")}
      (f32.store (i32.add (local.get $y) (i32.shl (local.get $r) (i32.const 2)))
                 (f32.div (local.get $sum) (f32.convert_i32_s (local.get $n))))""")


def _strided(esize: int) -> str:
    ty = "i32" if esize == 4 else "i64"
    shift = 2 if esize == 4 else 3
    idx = ("(i32.add (i32.add (i32.mul (local.get $i0) (local.get $s0)) (i32.mul (local.get $i1) (local.get $s1)))"
           " (i32.add (i32.mul (local.get $i2) (local.get $s2)) (i32.mul (local.get $i3) (local.get $s3))))")
    body = (f"({ty}.store (local.get $dst) ({ty}.load (i32.add (local.get $src) (i32.shl {idx} "
            f"(i32.const {shift}))))) (local.set $dst (i32.add (local.get $dst) (i32.const {esize})))")
    return f"""
  (func (export "strided{esize}") (param $src i32) (param $dst i32)
    (param $d0 i32) (param $d1 i32) (param $d2 i32) (param $d3 i32)
    (param $s0 i32) (param $s1 i32) (param $s2 i32) (param $s3 i32)
    (local $i0 i32) (local $i1 i32) (local $i2 i32) (local $i3 i32)
    """ + _loop("$i0", "(local.get $d0)", _loop("$i1", "(local.get $d1)", _loop(
        "$i2", "(local.get $d2)", _loop("$i3", "(local.get $d3)", body)))) + ")"


COPY2D = """
  (func (export "copy2d") (param $src i32) (param $dst i32) (param $rows i32) (param $bytes i32)
    (param $sstride i32) (param $dstride i32) (local $r i32)
    """ + _loop("$r", "(local.get $rows)", """
      (memory.copy (local.get $dst) (local.get $src) (local.get $bytes))
      (local.set $src (i32.add (local.get $src) (local.get $sstride)))
      (local.set $dst (i32.add (local.get $dst) (local.get $dstride)))""") + ")"

# MaxPool 3x3 stride 2 (the ResNet stem), 4 outputs per f32x4: per output row, the max of the
# (up to) 3 input rows goes into a -inf padded row of tmp ($wb floats), then the even/odd lanes
# of that row give the 3 taps of 4 outputs. Rows may overshoot by 3 floats (rewritten later).
_VMAX_ROW = """
      (local.set $ih (i32.add (i32.sub (i32.shl (local.get $oh) (i32.const 1)) (local.get $pt)) (local.get $r)))
      (if (i32.and (i32.ge_s (local.get $ih) (i32.const 0)) (i32.lt_s (local.get $ih) (local.get $H))) (then
        (local.set $src (i32.add (local.get $plane) (i32.shl (i32.mul (local.get $ih) (local.get $W)) (i32.const 2))))
        (local.set $dst (i32.add (local.get $tmp) (i32.shl (local.get $pl) (i32.const 2))))
        (local.set $i (i32.const 0))
        (block $ve (loop $vl (br_if $ve (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $W)))
          (v128.store (local.get $dst) (f32x4.max (v128.load (local.get $dst)) (v128.load (local.get $src))))
          (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
          (local.set $src (i32.add (local.get $src) (i32.const 16)))
          (local.set $i (i32.add (local.get $i) (i32.const 4))) (br $vl)))
        (block $se (loop $sl (br_if $se (i32.ge_s (local.get $i) (local.get $W)))
          (f32.store (local.get $dst) (f32.max (f32.load (local.get $dst)) (f32.load (local.get $src))))
          (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
          (local.set $src (i32.add (local.get $src) (i32.const 4)))
          (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $sl)))))"""

_HMAX = f"""
        (local.set $p (i32.add (local.get $tmp) (i32.shl (local.get $q) (i32.const 3))))
        (local.set $a (v128.load (local.get $p))) (local.set $b (v128.load offset=16 (local.get $p)))
        (local.set $c (f32x4.max (i8x16.shuffle {EVEN} (local.get $a) (local.get $b))
                                 (i8x16.shuffle {ODD} (local.get $a) (local.get $b))))
        (local.set $a (v128.load offset=8 (local.get $p))) (local.set $b (v128.load offset=24 (local.get $p)))
        (v128.store (i32.add (local.get $out) (i32.shl (local.get $q) (i32.const 2)))
          (f32x4.max (local.get $c) (i8x16.shuffle {EVEN} (local.get $a) (local.get $b))))"""

_POOL_ROW = (_for("$i", "(local.get $wb)", "(v128.store (i32.add (local.get $tmp) (i32.shl (local.get $i) "
                  "(i32.const 2))) (local.get $ninf))", "(i32.const 4)")
             + _for("$r", "(i32.const 3)", _VMAX_ROW)
             + """(local.set $out (i32.add (local.get $y) (i32.shl (i32.mul (i32.add (i32.mul (local.get $pp)
                   (local.get $OH)) (local.get $oh)) (local.get $OW)) (i32.const 2))))"""
             + _for("$q", "(local.get $OW)", _HMAX, "(i32.const 4)"))

MAXPOOL3S2 = f"""
  (func (export "maxpool3s2") (param $x i32) (param $y i32) (param $tmp i32) (param $P i32)
    (param $H i32) (param $W i32) (param $pt i32) (param $pl i32) (param $OH i32) (param $OW i32)
    (param $wb i32)
    (local $pp i32) (local $oh i32) (local $r i32) (local $i i32) (local $q i32) (local $ih i32)
    (local $plane i32) (local $src i32) (local $dst i32) (local $out i32) (local $p i32)
    (local $a v128) (local $b v128) (local $c v128) (local $ninf v128)
    (local.set $ninf (f32x4.splat (f32.const -inf)))
    {_for("$pp", "(local.get $P)", '''
      (local.set $plane (i32.add (local.get $x) (i32.shl (i32.mul (local.get $pp) (i32.mul (local.get $H)
                         (local.get $W))) (i32.const 2))))''' + _for("$oh", "(local.get $OH)", _POOL_ROW))})"""

NN_FUNCS = [IM2COL, MAXPOOL, MAXPOOL3S2, AVGPOOL, SOFTMAX, LAYERNORM, GAP, _strided(4), _strided(8), COPY2D]
