"""The numba SwiGLU: it is what the cpu provider runs, and it equals the reference kernel."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ronn_example import fast
from ronn_example.demo import swiglu_model
from ronn_example.kernels import swiglu

pytestmark = pytest.mark.skipif(not fast.KERNELS, reason="numba is not installed")

finite = dict(allow_nan=False, allow_infinity=False, min_value=-60, max_value=60, width=32)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]),
       beta=st.sampled_from([1.0, 0.5, 1.702]))
def test_fast_equals_reference(data, dtype, beta):
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=6))
    x = data.draw(hnp.arrays(dtype, shapes.input_shapes[0], elements=st.floats(**finite)))
    g = data.draw(hnp.arrays(dtype, shapes.input_shapes[1], elements=st.floats(**finite)))
    got, want = fast.swiglu_cpu(x, g, beta=beta), swiglu(x, g, beta=beta)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-6)


def test_other_dtypes_fall_back_to_the_reference_kernel():
    x = np.linspace(-3, 3, 12, dtype=np.float16).reshape(3, 4)
    np.testing.assert_array_equal(fast.swiglu_cpu(x, x), swiglu(x, x))


def test_non_contiguous_inputs():
    x = np.random.default_rng(0).standard_normal((6, 8)).astype(np.float32)
    np.testing.assert_allclose(fast.swiglu_cpu(x.T, x.T), swiglu(x.T, x.T), rtol=1e-6)


def test_cpu_provider_runs_the_fast_kernel(runtime, session_of):
    spec = runtime.kernels.resolve("com.example", "SwiGLU", 1, "cpu")
    assert spec.fn is fast.swiglu_cpu and spec.provider == "cpu"
    assert runtime.kernels.resolve("com.example", "SwiGLU", 1, "other").fn is swiglu
    session = session_of(swiglu_model())
    [step] = session.plan.steps
    assert step.kernel.fn is fast.swiglu_cpu
