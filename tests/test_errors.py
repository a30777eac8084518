"""Every mistake a user can make gives a specific ``ronn_core.errors`` class naming expected vs got."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import set_external_data

import ronn
from ronn_core import Runtime, kernel
from ronn_core.errors import (ConfigValueError, ExternalDataError, FeedError, InputShapeError,
                              InputTypeError, KernelError, MissingInputError, ModelLoadError,
                              NoKernelError, ProviderError, RonnError, UnknownInputError,
                              UnknownOutputError)

from ronn_tests import add_relu_model, custom_op_model, make_model, make_plugin, tensor


def _session(model, **options):
    return ronn.Model.load(model.SerializeToString()).create_session(**options)


# -- no kernel --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def core_runtime():
    """The installed entry points, limited to the ai.onnx operators and the cpu provider (other
    installed plugins, such as ronn-example, would otherwise provide the test's domain)."""
    return Runtime(allowlist=["cpu", "onnx"])


def test_custom_domain_op_without_a_plugin_names_op_domain_opset_plugins_and_what_to_install(
        core_runtime):
    model = custom_op_model("Foo", "com.example", version=3)

    with pytest.raises(NoKernelError) as info:
        _session(model, runtime=core_runtime)

    message = str(info.value)
    assert "op 'Foo' in domain 'com.example' at opset 3" in message
    assert "installed plugins: cpu, onnx" in message
    assert "pip install ronn-example" in message
    assert (info.value.op_type, info.value.domain, info.value.version) == ("Foo", "com.example", 3)
    assert info.value.node == "custom"


def test_unknown_domain_hint_names_the_domain_even_without_a_known_distribution(core_runtime):
    with pytest.raises(NoKernelError, match="No installed plugin provides domain 'org.nowhere'"):
        _session(custom_op_model("Foo", "org.nowhere"), runtime=core_runtime)


def test_ai_onnx_op_older_than_every_kernel_version_names_the_versions_that_exist(core_runtime):
    """Gelu has kernels from opset 20 on; a model importing opset 18 cannot run it."""
    model = make_model([helper.make_node("Gelu", ["x"], ["y"], name="gelu")],
                       [tensor("x", [2])], [tensor("y", [2])], opsets={"": 18})

    with pytest.raises(NoKernelError) as info:
        _session(model, runtime=core_runtime)

    message = str(info.value)
    assert "op 'Gelu' in domain 'ai.onnx' at opset 18" in message
    assert "exist from opset versions [20], none of them <= 18" in message


def test_no_kernel_error_lists_the_other_missing_ops_too(core_runtime):
    model = make_model([helper.make_node("Foo", ["x"], ["t"], domain="com.example"),
                        helper.make_node("Bar", ["t"], ["y"], domain="com.example")],
                       [tensor("x", [2])], [tensor("y", [2])], opsets={"com.example": 1})
    with pytest.raises(NoKernelError, match=r"Also missing: com.example::Bar\."):
        _session(model, runtime=core_runtime)


def test_no_kernel_error_is_a_not_implemented_error_for_callers_that_catch_that(core_runtime):
    with pytest.raises(NotImplementedError):
        _session(custom_op_model("Foo", "com.example"), runtime=core_runtime)


# -- feeds ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_input_session():
    """``y = a + b`` with ``a: float32['batch', 3]``, ``b: float32['batch', 3]``."""
    model = make_model([helper.make_node("Add", ["a", "b"], ["y"])],
                       [tensor("a", ["batch", 3]), tensor("b", ["batch", 3])],
                       [tensor("y", ["batch", 3])])
    return _session(model)


def _f32(*shape):
    return np.zeros(shape, np.float32)


def test_unknown_input_name_suggests_the_nearest_input(two_input_session):
    with pytest.raises(UnknownInputError, match=r"unknown input 'aa'; did you mean 'a'\?"):
        two_input_session.run({"aa": _f32(1, 3), "b": _f32(1, 3)})


def test_unknown_input_without_a_close_match_still_reads_as_a_sentence(two_input_session):
    with pytest.raises(UnknownInputError,
                       match=r"^unknown input 'zzzz'[.;:] [Tt]he model's inputs are \['a', 'b'\]$"):
        two_input_session.run({"zzzz": _f32(1, 3)})


def test_missing_input_names_it_with_its_type_and_shape(two_input_session):
    with pytest.raises(MissingInputError,
                       match=r"missing input\(s\): b \(tensor\(float\) \['batch', 3\]\); "
                             r"got \['a'\]"):
        two_input_session.run({"a": _f32(1, 3)})


def test_wrong_dtype_names_expected_and_given_type_and_how_to_convert(two_input_session):
    with pytest.raises(InputTypeError) as info:
        two_input_session.run({"a": np.zeros((1, 3)), "b": _f32(1, 3)})
    message = str(info.value)
    assert "input 'a' expects tensor(float) (float32), got float64" in message
    assert ".astype(np.float32)" in message


def test_wrong_rank_names_expected_and_given_rank(two_input_session):
    with pytest.raises(InputShapeError,
                       match=r"input 'a' expects rank 2 \[batch, 3\], got rank 1 \[3\]"):
        two_input_session.run({"a": _f32(3), "b": _f32(1, 3)})


def test_wrong_static_dim_names_the_axis_and_both_sizes(two_input_session):
    with pytest.raises(InputShapeError,
                       match=r"input 'b' expects dim 1 = 3 \(shape \[batch, 3\]\), got 4 "
                             r"\(shape \[2, 4\]\)"):
        two_input_session.run({"a": _f32(2, 3), "b": _f32(2, 4)})


def test_symbolic_dim_must_agree_across_inputs(two_input_session):
    with pytest.raises(InputShapeError,
                       match=r"input 'b' dim 0 is 'batch' = 5, but input 'a' already set "
                             r"'batch' = 2"):
        two_input_session.run({"a": _f32(2, 3), "b": _f32(5, 3)})


def test_symbolic_dim_may_take_any_size_consistently(two_input_session):
    y = two_input_session.run({"a": np.ones((7, 3), np.float32), "b": _f32(7, 3)})["y"]
    assert y.shape == (7, 3)


def test_feeds_that_are_not_a_dict_are_refused(two_input_session):
    with pytest.raises(InputTypeError, match="feeds must be a dict"):
        two_input_session.run([_f32(1, 3), _f32(1, 3)])


def test_unknown_output_name_lists_the_models_outputs(two_input_session):
    with pytest.raises(UnknownOutputError, match=r"unknown output\(s\) \['z'\]; the model's "
                                                 r"outputs are \['y'\]"):
        two_input_session.run({"a": _f32(1, 3), "b": _f32(1, 3)}, output_names=["z"])


def test_feed_errors_share_a_base_class_that_is_a_value_error():
    assert issubclass(UnknownInputError, FeedError) and issubclass(FeedError, ValueError)
    assert issubclass(FeedError, RonnError)


# -- malformed model files --------------------------------------------------------------------


def _assert_one_line_load_error(source):
    with pytest.raises(ModelLoadError) as info:
        ronn.Model.load(source)
    message = str(info.value)
    assert "\n" not in message
    exc = info.value
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__), \
        "the protobuf exception should not be chained into the traceback"
    return message


def test_random_bytes_are_a_one_line_model_load_error(tmp_path):
    path = tmp_path / "noise.onnx"
    path.write_bytes(np.random.default_rng(0).bytes(1000))
    message = _assert_one_line_load_error(path)
    assert "noise.onnx" in message and "not a valid ONNX protobuf" in message


def test_truncated_model_file_is_a_one_line_model_load_error(tmp_path):
    weights = numpy_helper.from_array(np.arange(4096, dtype=np.float32), "w")
    data = make_model([helper.make_node("Add", ["x", "w"], ["y"])], [tensor("x", [4096])],
                      [tensor("y", [4096])], initializers=[weights]).SerializeToString()
    path = tmp_path / "half.onnx"
    path.write_bytes(data[: len(data) // 2])
    message = _assert_one_line_load_error(path)
    assert "truncated" in message


def test_empty_file_is_a_one_line_model_load_error(tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    assert "holds no ONNX graph" in _assert_one_line_load_error(path)


def test_missing_file_is_a_model_load_error_naming_the_path(tmp_path):
    message = _assert_one_line_load_error(tmp_path / "nope.onnx")
    assert "nope.onnx" in message and "no such file" in message


def test_random_bytes_given_as_bytes_are_a_model_load_error():
    assert "<bytes>" in _assert_one_line_load_error(np.random.default_rng(1).bytes(300))


def test_model_load_errors_are_value_errors_and_ronn_errors():
    assert issubclass(ModelLoadError, ValueError) and issubclass(ModelLoadError, RonnError)


# -- external data ----------------------------------------------------------------------------

_W = np.arange(12, dtype=np.float32).reshape(3, 4)


def _weighted_model():
    """``y = x + w`` where ``w`` is a 3x4 float initializer."""
    return make_model([helper.make_node("Add", ["x", "w"], ["y"])], [tensor("x", [3, 4])],
                      [tensor("y", [3, 4])], initializers=[numpy_helper.from_array(_W, "w")])


def _model_pointing_at(location: str, folder):
    """A model file in ``folder`` whose ``w`` lives externally at ``location``."""
    model = _weighted_model()
    w = model.graph.initializer[0]
    set_external_data(w, location=location, offset=0, length=_W.nbytes)
    w.data_location = TensorProto.EXTERNAL
    w.ClearField("raw_data")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def test_model_saved_with_external_data_loads_from_its_folder(tmp_path, monkeypatch):
    folder = tmp_path / "saved"
    folder.mkdir()
    onnx.save_model(_weighted_model(), folder / "model.onnx", save_as_external_data=True,
                    location="weights.bin", size_threshold=0)
    assert (folder / "weights.bin").stat().st_size == _W.nbytes
    monkeypatch.chdir(tmp_path)   # not the model's folder

    y = ronn.Model.load(folder / "model.onnx").create_session().run(
        {"x": np.ones((3, 4), np.float32)})["y"]

    np.testing.assert_array_equal(y, _W + 1)


def test_bytes_with_external_data_load_when_given_base_dir(tmp_path):
    folder = tmp_path / "saved"
    folder.mkdir()
    onnx.save_model(_weighted_model(), folder / "model.onnx", save_as_external_data=True,
                    location="weights.bin", size_threshold=0)
    model = ronn.Model.load((folder / "model.onnx").read_bytes(), base_dir=folder)
    np.testing.assert_array_equal(model.graph.initializers["w"], _W)


def test_external_data_outside_the_model_folder_is_refused_even_if_it_exists(tmp_path):
    (tmp_path / "outside.bin").write_bytes(_W.tobytes())
    path = _model_pointing_at("../outside.bin", tmp_path / "model")

    with pytest.raises(ExternalDataError, match=r"'\.\./outside\.bin', outside the model's "
                                                r"folder.*refused"):
        ronn.Model.load(path)


def test_external_data_at_an_absolute_path_is_refused_even_if_it_exists(tmp_path):
    absolute = tmp_path / "abs.bin"
    absolute.write_bytes(_W.tobytes())
    path = _model_pointing_at(str(absolute), tmp_path / "model")

    with pytest.raises(ExternalDataError, match="outside the model's folder"):
        ronn.Model.load(path)


def test_external_data_through_a_symlink_leaving_the_folder_is_refused(tmp_path):
    (tmp_path / "secret.bin").write_bytes(_W.tobytes())
    path = _model_pointing_at("link.bin", tmp_path / "model")
    (tmp_path / "model" / "link.bin").symlink_to(tmp_path / "secret.bin")

    with pytest.raises(ExternalDataError, match="outside the model's folder"):
        ronn.Model.load(path)


def test_external_data_inside_the_folder_but_missing_names_the_file(tmp_path):
    path = _model_pointing_at("gone.bin", tmp_path / "model")
    with pytest.raises(ExternalDataError, match=r"gone\.bin.*does not exist"):
        ronn.Model.load(path)


def test_external_data_shorter_than_declared_is_refused(tmp_path):
    path = _model_pointing_at("short.bin", tmp_path / "model")
    (tmp_path / "model" / "short.bin").write_bytes(_W.tobytes()[:10])
    with pytest.raises(ExternalDataError, match=f"wants {_W.nbytes} bytes.*has 10"):
        ronn.Model.load(path)


def test_bytes_with_external_data_and_no_base_dir_ask_for_base_dir(tmp_path):
    path = _model_pointing_at("weights.bin", tmp_path / "model")
    (tmp_path / "model" / "weights.bin").write_bytes(_W.tobytes())

    with pytest.raises(ExternalDataError, match=r"'weights\.bin', but the model was given as "
                                                r"bytes; pass base_dir="):
        ronn.Model.load(path.read_bytes())


def test_external_data_error_is_a_model_load_error():
    assert issubclass(ExternalDataError, ModelLoadError)


# -- kernels failing at run time --------------------------------------------------------------


def test_kernel_failure_is_a_kernel_error_naming_node_provider_and_input_shapes(make_runtime):
    @kernel("Explode", domain="test.err")
    def explode(a, b):
        raise ValueError("operands could not be broadcast")

    runtime = make_runtime(make_plugin("err", ronn_operators=lambda register: register(explode)))
    session = _session(custom_op_model("Explode", "test.err", n_inputs=2), runtime=runtime)

    with pytest.raises(KernelError) as info:
        session.run({"x0": np.zeros((2, 3), np.float32), "x1": np.ones((2, 3), np.float32)})

    message = str(info.value)
    assert "node custom (Explode) failed on provider 'cpu'" in message
    assert "ValueError: operands could not be broadcast" in message
    assert "inputs: x0: float32[2, 3], x1: float32[2, 3]" in message
    assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize("profiling", [False, True], ids=["plain", "profiled"])
def test_kernel_returning_too_few_outputs_is_a_kernel_error_naming_the_node(make_runtime,
                                                                            profiling):
    """Profiling must not change what counts as an error (no silent ``None`` output)."""
    @kernel("Pair", domain="test.err")
    def pair(x):
        return (x,)

    runtime = make_runtime(make_plugin("err", ronn_operators=lambda register: register(pair)))
    model = make_model([helper.make_node("Pair", ["x"], ["a", "b"], domain="test.err",
                                         name="pair")],
                       [tensor("x", [2])], [tensor("a", [2]), tensor("b", [2])],
                       opsets={"test.err": 1})
    with pytest.raises(KernelError, match=r"node pair \(Pair\).*returned 1 outputs, the node "
                                          r"has 2"):
        _session(model, runtime=runtime, profiling=profiling).run({"x": np.zeros(2, np.float32)})


# -- providers --------------------------------------------------------------------------------


def test_unknown_provider_name_suggests_the_nearest_installed_one():
    with pytest.raises(ProviderError, match=r"unknown execution provider 'cpuu'; did you mean "
                                            r"'cpu'\?; installed providers: \[.*'cpu'.*\]"):
        _session(add_relu_model(), providers=["cpuu"])


def test_unknown_provider_option_names_the_provider_and_its_valid_options():
    with pytest.raises(ConfigValueError, match=r"provider 'cpu' has no option 'fast_math'; its "
                                               r"options are none"):
        _session(add_relu_model(), providers=[("cpu", {"fast_math": True})])


def test_unknown_provider_option_through_inference_session_is_refused():
    with pytest.raises(ConfigValueError, match="no option 'arena'"):
        ronn.InferenceSession(add_relu_model().SerializeToString(),
                              providers=["CPUExecutionProvider"],
                              provider_options=[{"arena": 1}])


def test_empty_provider_list_is_an_error_not_a_silent_cpu_default():
    with pytest.raises(ConfigValueError, match="providers is empty"):
        _session(add_relu_model(), providers=[])


def test_provider_and_providers_together_are_refused():
    with pytest.raises(ConfigValueError, match="either provider= or providers="):
        _session(add_relu_model(), provider="cpu", providers=["cpu"])


@pytest.mark.parametrize("threads", [0, -1, "2", True])
def test_threads_must_be_a_positive_integer(threads):
    with pytest.raises(ConfigValueError, match=f"threads = {threads!r}"):
        _session(add_relu_model(), threads=threads)
