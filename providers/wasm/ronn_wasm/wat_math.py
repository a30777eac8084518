"""WAT building blocks: SIMD128 math helpers (exp, erf, tanh) and small text templates.

The kernels module assembles these strings into one WebAssembly text module.
"""

from __future__ import annotations


def f4(value: float) -> str:
    """A constant f32x4 vector with four equal lanes."""
    v = repr(float(value))
    return f"(v128.const f32x4 {v} {v} {v} {v})"


def horner(var: str, coeffs: list[float]) -> str:
    """``c0 + x*(c1 + x*(c2 + ...))`` over v128 ``var`` (coefficients from degree 0 up)."""
    expr = f4(coeffs[-1])
    for c in reversed(coeffs[:-1]):
        expr = f"(f32x4.add {f4(c)} (f32x4.mul (local.get {var}) {expr}))"
    return expr


# exp(x) = 2^k * exp(r), r = x - k ln2, |r| <= ln2/2; degree-6 Taylor: relative error < 2e-7.
EXP4 = f"""
  (func $exp4 (param $x v128) (result v128) (local $k v128) (local $r v128)
    (local.set $x (f32x4.max (f32x4.min (local.get $x) {f4(88.3)}) {f4(-87.3)}))
    (local.set $k (f32x4.nearest (f32x4.mul (local.get $x) {f4(1.4426950408889634)})))
    (local.set $r (f32x4.sub (f32x4.sub (local.get $x) (f32x4.mul (local.get $k) {f4(0.693359375)}))
                             (f32x4.mul (local.get $k) {f4(-2.12194440e-4)})))
    (f32x4.mul {horner("$r", [1.0, 1.0, 0.5, 1 / 6, 1 / 24, 1 / 120, 1 / 720])}
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $k)) (v128.const i32x4 127 127 127 127))
                 (i32.const 23))))
  (func $exp1 (param $x f32) (result f32)
    (f32x4.extract_lane 0 (call $exp4 (f32x4.splat (local.get $x)))))
  ;; erf: Abramowitz-Stegun 7.1.26 (absolute error < 1.5e-7)
  (func $erf4 (param $x v128) (result v128) (local $a v128) (local $t v128) (local $y v128)
    (local.set $a (f32x4.abs (local.get $x)))
    (local.set $t (f32x4.div {f4(1.0)} (f32x4.add {f4(1.0)} (f32x4.mul {f4(0.3275911)} (local.get $a)))))
    (local.set $y (f32x4.sub {f4(1.0)}
      (f32x4.mul (f32x4.mul (local.get $t)
          {horner("$t", [0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429])})
        (call $exp4 (f32x4.neg (f32x4.mul (local.get $a) (local.get $a)))))))
    ;; copy the sign of x onto y
    (v128.or (v128.and (local.get $y) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
             (v128.and (local.get $x) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))))
  (func $tanh4 (param $x v128) (result v128) (local $e v128)
    ;; tanh(x) = 1 - 2 / (exp(2x) + 1)
    (local.set $e (call $exp4 (f32x4.mul (local.get $x) {f4(2.0)})))
    (f32x4.sub {f4(1.0)} (f32x4.div {f4(2.0)} (f32x4.add (local.get $e) {f4(1.0)}))))
  (func $sigmoid4 (param $x v128) (result v128)
    (f32x4.div {f4(1.0)} (f32x4.add {f4(1.0)} (call $exp4 (f32x4.neg (local.get $x))))))
  (func $gelu4 (param $x v128) (result v128)
    (f32x4.mul (f32x4.mul {f4(0.5)} (local.get $x))
      (f32x4.add {f4(1.0)} (call $erf4 (f32x4.mul (local.get $x) {f4(0.7071067811865476)})))))
  (func $gelu_tanh4 (param $x v128) (result v128)
    (f32x4.mul (f32x4.mul {f4(0.5)} (local.get $x))
      (f32x4.add {f4(1.0)} (call $tanh4 (f32x4.mul {f4(0.7978845608028654)}
        (f32x4.add (local.get $x) (f32x4.mul {f4(0.044715)}
          (f32x4.mul (local.get $x) (f32x4.mul (local.get $x) (local.get $x))))))))))
"""

# Unary ops: name -> expression over v128 local $v and splatted parameters $p0 / $p1.
UNARY = {
    "relu": f"(f32x4.max (local.get $v) {f4(0.0)})",
    "leaky_relu": "(f32x4.add (f32x4.max (local.get $v) (f32x4.splat (f32.const 0)))"
                  " (f32x4.mul (f32x4.min (local.get $v) (f32x4.splat (f32.const 0)))"
                  " (f32x4.splat (local.get $p0))))",
    "clip": "(f32x4.min (f32x4.max (local.get $v) (f32x4.splat (local.get $p0)))"
            " (f32x4.splat (local.get $p1)))",
    "hard_sigmoid": "(f32x4.min (f32x4.max (f32x4.add (f32x4.mul (local.get $v) "
                    "(f32x4.splat (local.get $p0))) (f32x4.splat (local.get $p1)))"
                    f" {f4(0.0)}) {f4(1.0)})",
    "sigmoid": "(call $sigmoid4 (local.get $v))",
    "tanh": "(call $tanh4 (local.get $v))",
    "exp": "(call $exp4 (local.get $v))",
    "erf": "(call $erf4 (local.get $v))",
    "gelu": "(call $gelu4 (local.get $v))",
    "gelu_tanh": "(call $gelu_tanh4 (local.get $v))",
    "sqrt": "(f32x4.sqrt (local.get $v))",
    "neg": "(f32x4.neg (local.get $v))",
    "abs": "(f32x4.abs (local.get $v))",
    "reciprocal": f"(f32x4.div {f4(1.0)} (local.get $v))",
    "scale_shift": "(f32x4.add (f32x4.mul (local.get $v) (f32x4.splat (local.get $p0)))"
                   " (f32x4.splat (local.get $p1)))",
}

# Binary ops: name -> f32x4 instruction.
BINARY = {"add": "f32x4.add", "sub": "f32x4.sub", "mul": "f32x4.mul", "div": "f32x4.div",
          "max": "f32x4.max", "min": "f32x4.min", "add_relu": "add_relu"}


def _apply(instr: str, a: str, b: str, vec: bool) -> str:
    """``a instr b`` (``add_relu``: max(a + b, 0), the residual join of a ResNet)."""
    if instr == "add_relu":
        zero = "(v128.const f32x4 0 0 0 0)" if vec else "(f32.const 0)"
        ty = "f32x4" if vec else "f32"
        return f"({ty}.max ({ty}.add {a} {b}) {zero})"
    return f"({instr if vec else instr.replace('f32x4.', 'f32.')} {a} {b})"


def unary_func(name: str, expr: str) -> str:
    """``u_NAME(x, y, n, p0, p1)``: y[i] = f(x[i]) in whole vectors (blocks are padded)."""
    return f"""
  (func (export "u_{name}") (param $x i32) (param $y i32) (param $n i32) (param $p0 f32) (param $p1 f32)
    (local $end i32) (local $v v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $v (v128.load (local.get $x)))
      (v128.store (local.get $y) {expr})
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $y (i32.add (local.get $y) (i32.const 16)))
      (br $next))))"""


def binary_func(name: str, instr: str, mode: str) -> str:
    """``b_NAME_MODE``: y = a op b over up to 4 broadcast dims; the innermost dim has stride 1 for
    a vector operand (``v``) and 0 for a splatted one (``s``); outer strides are in elements.
    Whole vectors first, then a scalar tail, so ``y`` may alias ``a`` (in-place)."""

    def load(op: str, vec: bool) -> str:
        if mode["ab".index(op)] == "s":
            return f"(local.get $s{op})" if vec else f"(f32.load (local.get $p{op}))"
        return f"({'v128' if vec else 'f32'}.load (local.get $p{op}))"

    def step(op: str, size: int) -> str:
        if mode["ab".index(op)] == "s":
            return ""
        return f"(local.set $p{op} (i32.add (local.get $p{op}) (i32.const {size})))"

    def offset(op: str) -> str:
        return (f"(i32.add (local.get ${op}) (i32.shl (i32.add (i32.add "
                f"(i32.mul (local.get $i0) (local.get ${op}s0)) "
                f"(i32.mul (local.get $i1) (local.get ${op}s1))) "
                f"(i32.mul (local.get $i2) (local.get ${op}s2))) (i32.const 2)))")
    return f"""
  (func (export "b_{name}_{mode}") (param $a i32) (param $b i32) (param $y i32)
    (param $d0 i32) (param $d1 i32) (param $d2 i32) (param $d3 i32)
    (param $as0 i32) (param $as1 i32) (param $as2 i32) (param $bs0 i32) (param $bs1 i32) (param $bs2 i32)
    (local $i0 i32) (local $i1 i32) (local $i2 i32) (local $j i32) (local $pa i32) (local $pb i32)
    (local $sa v128) (local $sb v128)
    (block $e0 (loop $l0 (br_if $e0 (i32.ge_u (local.get $i0) (local.get $d0)))
      (local.set $i1 (i32.const 0))
      (block $e1 (loop $l1 (br_if $e1 (i32.ge_u (local.get $i1) (local.get $d1)))
        (local.set $i2 (i32.const 0))
        (block $e2 (loop $l2 (br_if $e2 (i32.ge_u (local.get $i2) (local.get $d2)))
          (local.set $pa {offset("a")})
          (local.set $pb {offset("b")})
          (local.set $sa (v128.load32_splat (local.get $pa)))
          (local.set $sb (v128.load32_splat (local.get $pb)))
          (local.set $j (i32.const 0))
          (block $e3 (loop $l3 (br_if $e3 (i32.gt_s (i32.add (local.get $j) (i32.const 4)) (local.get $d3)))
            (v128.store (local.get $y) {_apply(instr, load("a", True), load("b", True), True)})
            {step("a", 16)} {step("b", 16)}
            (local.set $y (i32.add (local.get $y) (i32.const 16)))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $l3)))
          (block $e4 (loop $l4 (br_if $e4 (i32.ge_s (local.get $j) (local.get $d3)))
            (f32.store (local.get $y) {_apply(instr, load("a", False), load("b", False), False)})
            {step("a", 4)} {step("b", 4)}
            (local.set $y (i32.add (local.get $y) (i32.const 4)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $l4)))
          (local.set $i2 (i32.add (local.get $i2) (i32.const 1))) (br $l2)))
        (local.set $i1 (i32.add (local.get $i1) (i32.const 1))) (br $l1)))
      (local.set $i0 (i32.add (local.get $i0) (i32.const 1))) (br $l0))))"""
