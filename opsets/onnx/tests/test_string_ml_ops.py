"""String, ai.onnx.ml, training-optimizer and misc ops agree with onnxruntime (or hand results)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import ronn

ML = "ai.onnx.ml"
RNG = np.random.default_rng(0)


def _elem_type(arr: np.ndarray) -> int:
    return TensorProto.STRING if arr.dtype == object else helper.np_dtype_to_tensor_dtype(arr.dtype)


def make_model(op_type, inputs: dict, attrs=None, *, opset=None, domain="", n_outputs=1):
    """A one-node model over the named input arrays, opset imports for '' and the op's domain."""
    out_names = [f"out{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, list(inputs), out_names, domain=domain, **(attrs or {}))
    graph = helper.make_graph(
        [node], f"{op_type}_test",
        [helper.make_tensor_value_info(k, _elem_type(v), v.shape) for k, v in inputs.items()],
        [helper.make_empty_tensor_value_info(n) for n in out_names])
    imports = [helper.make_opsetid("", 21 if domain else opset)]
    if domain:
        imports.append(helper.make_opsetid(domain, opset))
    model = helper.make_model(graph, opset_imports=imports)
    model.ir_version = 10
    return model.SerializeToString()


def run_ronn(model: bytes, inputs: dict) -> list:
    return ronn.InferenceSession(model).run(None, inputs)


def run_ort(model: bytes, inputs: dict) -> list:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"]).run(None, inputs)


def assert_same(got, want, rtol=1e-5, atol=1e-6):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, (g.shape, w.shape)
        if w.dtype == object or g.dtype == object:
            assert g.tolist() == w.tolist()
        else:
            assert g.dtype == w.dtype, (g.dtype, w.dtype)
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def check(op_type, inputs, attrs=None, *, opset, domain="", n_outputs=1, **tol):
    model = make_model(op_type, inputs, attrs, opset=opset, domain=domain, n_outputs=n_outputs)
    assert_same(run_ronn(model, inputs), run_ort(model, inputs), **tol)


def strings(*values, shape=None):
    arr = np.array(values, dtype=object)
    return arr.reshape(shape) if shape else arr


# --- string ops --------------------------------------------------------------------------------

@pytest.mark.parametrize("action", ["NONE", "LOWER", "UPPER"])
@pytest.mark.parametrize("sensitive", [0, 1])
@pytest.mark.parametrize("shape", [(6,), (1, 6)])
def test_string_normalizer(action, sensitive, shape):
    x = strings("Monday", "tuesday", "MONDAY", "Wed", "monday", "Thu", shape=shape)
    check("StringNormalizer", {"x": x}, {"case_change_action": action,
                                         "is_case_sensitive": sensitive,
                                         "stopwords": ["monday", "thu"], "locale": "C"}, opset=10)


def test_string_normalizer_all_stopwords_gives_one_empty_string():
    x = strings("a", "A", shape=(1, 2))
    model = make_model("StringNormalizer", {"x": x}, {"stopwords": ["a"]}, opset=10)
    (y,) = run_ronn(model, {"x": x})
    assert y.shape == (1, 1) and y.tolist() == [[""]]


def test_regex_full_match():
    x = strings("www.google.com", "google.com", "www.bbc.co.uk", "", shape=(2, 2))
    check("RegexFullMatch", {"x": x}, {"pattern": r"www\.[\w.-]+\.com"}, opset=20)


def test_string_concat_broadcasts():
    x = strings("a", "bc", "", "ü", shape=(2, 2))
    y = strings("!", "?")
    check("StringConcat", {"x": x, "y": y}, opset=20)


@pytest.mark.parametrize("attrs", [{}, {"delimiter": "-"}, {"delimiter": "-", "maxsplit": 1},
                                   {"maxsplit": 2}, {"delimiter": "ab"}])
def test_string_split(attrs):
    x = strings("o-n-n--x-", "  a b  c ", "abcab-d", "", shape=(2, 2))
    check("StringSplit", {"x": x}, attrs, opset=20, n_outputs=2)


TFIDF_POOL = dict(ngram_counts=[0, 4], ngram_indexes=[0, 1, 2, 3, 4, 5, 6],
                  pool_int64s=[2, 3, 5, 4, 5, 6, 7, 8, 6, 7])


@pytest.mark.parametrize("mode", ["TF", "IDF", "TFIDF"])
@pytest.mark.parametrize("grams, skip", [((1, 1), 0), ((2, 2), 0), ((1, 2), 3), ((2, 2), 5)])
@pytest.mark.parametrize("shape", [(12,), (2, 6)])
def test_tfidf_vectorizer_ints(mode, grams, skip, shape):
    x = np.array([1, 1, 3, 3, 3, 7, 8, 6, 7, 5, 6, 8], dtype=np.int32).reshape(shape)
    attrs = dict(TFIDF_POOL, mode=mode, min_gram_length=grams[0], max_gram_length=grams[1],
                 max_skip_count=skip, weights=[0.5, 1, 2, 3, 4, 5, 6.5])
    check("TfIdfVectorizer", {"x": x}, attrs, opset=9)


def test_tfidf_vectorizer_strings():
    x = strings("a", "b", "a", "c", "b", "a", "b")
    attrs = dict(mode="TF", min_gram_length=1, max_gram_length=2, max_skip_count=1,
                 ngram_counts=[0, 2], ngram_indexes=[1, 0, 2, 3],
                 pool_strings=["a", "b", "a", "b", "b", "a"])
    check("TfIdfVectorizer", {"x": x}, attrs, opset=9)


# --- ai.onnx.ml --------------------------------------------------------------------------------

def test_array_feature_extractor():
    x = RNG.random((3, 4, 5)).astype(np.float32)
    check("ArrayFeatureExtractor", {"x": x, "y": np.array([4, 0, 2], np.int64)}, opset=1,
          domain=ML)


def test_binarizer():
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    check("Binarizer", {"x": x}, {"threshold": 0.25}, opset=1, domain=ML)


def test_scaler_and_normalizer():
    x = RNG.normal(size=(4, 3)).astype(np.float32)
    check("Scaler", {"x": x}, {"offset": [0.5, -1, 2], "scale": [2.0, 0.5, 3]}, opset=1,
          domain=ML)
    for norm in ["MAX", "L1", "L2"]:
        check("Normalizer", {"x": x}, {"norm": norm}, opset=1, domain=ML)


def test_one_hot_encoder_and_imputer():
    check("OneHotEncoder", {"x": np.array([[1, 5], [3, 1]], np.int64)},
          {"cats_int64s": [1, 2, 3]}, opset=1, domain=ML)
    check("OneHotEncoder", {"x": strings("a", "z", "c")}, {"cats_strings": ["c", "a"]}, opset=1,
          domain=ML)
    x = np.array([[1, np.nan, 3], [np.nan, 5, 0]], np.float32)
    check("Imputer", {"x": x}, {"imputed_value_floats": [9.0, 8.0, 7.0],
                                "replaced_value_float": float("nan")}, opset=1, domain=ML)
    check("Imputer", {"x": np.array([[1, 0], [0, 4]], np.int64)},
          {"imputed_value_int64s": [7], "replaced_value_int64": 0}, opset=1, domain=ML)


def test_label_encoder_versions():
    x = strings("a", "b", "d", "c")
    check("LabelEncoder", {"x": x}, {"keys_strings": ["a", "b", "c"], "values_int64s": [5, 6, 7],
                                     "default_int64": 42}, opset=2, domain=ML)
    check("LabelEncoder", {"x": np.array([1, 7, 2], np.int64)},
          {"keys_int64s": [1, 2], "values_strings": ["x", "y"]}, opset=2, domain=ML)
    check("LabelEncoder", {"x": np.array([1.5, 2.5, 3.0], np.float32)},
          {"keys_floats": [1.5, 3.0], "values_floats": [10.0, 20.0]}, opset=2, domain=ML)
    # spec (v4): keys compare bitwise, so a NaN key maps NaN (onnxruntime does not)
    xf = np.array([np.nan, 1.0], np.float32)
    model = make_model("LabelEncoder", {"x": xf}, {"keys_floats": [float("nan")],
                                                   "values_int64s": [7]}, opset=4, domain=ML)
    assert run_ronn(model, {"x": xf})[0].tolist() == [7, -1]
    check("LabelEncoder", {"x": strings("b", "q")},
          {"keys_tensor": numpy_helper.from_array(strings("a", "b"), "k"),
           "values_tensor": numpy_helper.from_array(np.array([1, 2], np.int64), "v"),
           "default_tensor": numpy_helper.from_array(np.array([-9], np.int64), "d")},
          opset=4, domain=ML)
    x1 = strings("a", "zz", "b")
    model = make_model("LabelEncoder", {"x": x1}, {"classes_strings": ["a", "b"]}, opset=1,
                       domain=ML)
    assert run_ronn(model, {"x": x1})[0].tolist() == [0, -1, 1]


def test_feature_vectorizer_and_category_mapper():
    a = RNG.random((2, 3)).astype(np.float32)
    b = RNG.random((2, 1)).astype(np.float32)
    check("FeatureVectorizer", {"a": a, "b": b}, {"inputdimensions": [2, 1]}, opset=1, domain=ML)
    check("CategoryMapper", {"x": strings("a", "c", "b")},
          {"cats_strings": ["a", "b"], "cats_int64s": [4, 5], "default_int64": -3}, opset=1,
          domain=ML)
    check("CategoryMapper", {"x": np.array([5, 6], np.int64)},
          {"cats_strings": ["a", "b"], "cats_int64s": [4, 5]}, opset=1, domain=ML)


def test_zip_map_returns_dicts():
    x = np.array([[0.25, 0.75], [1.0, 0.0]], np.float32)
    model = make_model("ZipMap", {"x": x}, {"classlabels_strings": ["no", "yes"]}, opset=1,
                       domain=ML)
    (y,) = run_ronn(model, {"x": x})
    assert y == [{"no": 0.25, "yes": 0.75}, {"no": 1.0, "yes": 0.0}]


@pytest.mark.parametrize("transform", ["NONE", "LOGISTIC", "SOFTMAX"])
def test_linear_models(transform):
    x = RNG.normal(size=(5, 3)).astype(np.float32)
    check("LinearRegressor", {"x": x}, {"coefficients": [0.5, -1, 2, 1, 1, 1],
                                        "intercepts": [0.1, -0.2], "targets": 2,
                                        "post_transform": transform}, opset=1, domain=ML)
    check("LinearClassifier", {"x": x}, {"coefficients": [0.5, -1, 2, 1, 1, 1, -1, 0, 3],
                                         "intercepts": [0.1, -0.2, 0.3],
                                         "classlabels_ints": [3, 4, 5],
                                         "post_transform": transform}, opset=1, domain=ML,
          n_outputs=2)
    check("LinearClassifier", {"x": x}, {"coefficients": [0.5, -1, 2], "intercepts": [0.1],
                                         "classlabels_strings": ["n", "y"],
                                         "post_transform": transform}, opset=1, domain=ML,
          n_outputs=2)


# A two-tree forest on 2 features: tree 0 splits f0 <= 0.5 then f1 < 0; tree 1 splits f1 > 0.2.
TREES = dict(nodes_treeids=[0, 0, 0, 0, 0, 1, 1, 1], nodes_nodeids=[0, 1, 2, 3, 4, 0, 1, 2],
             nodes_featureids=[0, 1, 0, 0, 0, 1, 0, 0],
             nodes_modes=["BRANCH_LEQ", "BRANCH_LT", "LEAF", "LEAF", "LEAF", "BRANCH_GT", "LEAF",
                          "LEAF"],
             nodes_values=[0.5, 0.0, 0, 0, 0, 0.2, 0, 0],
             nodes_truenodeids=[1, 2, 0, 0, 0, 1, 0, 0],
             nodes_falsenodeids=[4, 3, 0, 0, 0, 2, 0, 0],
             nodes_missing_value_tracks_true=[1, 0, 0, 0, 0, 0, 0, 0])
LEAVES = [(0, 2), (0, 3), (0, 4), (1, 1), (1, 2)]


def _tree_x():
    x = RNG.normal(size=(20, 2)).astype(np.float32)
    x[0, 0] = np.nan
    return x


@pytest.mark.parametrize("aggregate", ["SUM", "AVERAGE", "MIN", "MAX"])
@pytest.mark.parametrize("opset", [1, 3])
def test_tree_ensemble_regressor(aggregate, opset):
    targets = [(t, n, k, w) for (t, n), ws in zip(LEAVES, [(1, 2), (3, -1), (-2, 0.5), (4, 4),
                                                           (0.25, -3)]) for k, w in enumerate(ws)]
    t, n, k, w = zip(*targets)
    attrs = dict(TREES, target_treeids=t, target_nodeids=n, target_ids=k, target_weights=w,
                 n_targets=2, aggregate_function=aggregate, base_values=[0.5, -0.5])
    check("TreeEnsembleRegressor", {"x": _tree_x()}, attrs, opset=opset, domain=ML)


@pytest.mark.parametrize("transform", ["NONE", "LOGISTIC", "SOFTMAX"])
@pytest.mark.parametrize("case", ["multi", "binary_prob", "binary_margin", "two_columns"])
def test_tree_ensemble_classifier(transform, case):
    if case == "multi":
        entries = [(t, n, c, 0.1 * (i + c)) for i, (t, n) in enumerate(LEAVES) for c in range(3)]
        labels = {"classlabels_int64s": [7, 8, 9]}
    elif case == "two_columns":
        entries = [(t, n, c, 0.2 * (i - c)) for i, (t, n) in enumerate(LEAVES) for c in range(2)]
        labels = {"classlabels_strings": ["no", "yes"]}
    else:
        sign = 1 if case == "binary_prob" else -1
        entries = [(t, n, 1, 0.3 * (i + 1) * sign ** i) for i, (t, n) in enumerate(LEAVES)]
        labels = {"classlabels_int64s": [0, 1]}
    t, n, c, w = zip(*entries)
    attrs = dict(TREES, class_treeids=t, class_nodeids=n, class_ids=c, class_weights=w,
                 post_transform=transform, **labels)
    check("TreeEnsembleClassifier", {"x": _tree_x()}, attrs, opset=1, domain=ML, n_outputs=2)


def test_tree_ensemble_v5_matches_regressor():
    """TreeEnsemble (v5) with leaves in their own table, checked against hand-computed sums."""
    attrs = dict(nodes_featureids=[0, 1], nodes_modes=numpy_helper.from_array(
                     np.array([0, 6], np.uint8)),
                 nodes_splits=numpy_helper.from_array(np.array([0.0, 0.0], np.float32)),
                 membership_values=numpy_helper.from_array(
                     np.array([1.0, 2.0, np.nan], np.float32)),
                 nodes_truenodeids=[1, 1], nodes_trueleafs=[0, 1],
                 nodes_falsenodeids=[0, 2], nodes_falseleafs=[1, 1],
                 leaf_targetids=[0, 1, 1], n_targets=2, tree_roots=[0],
                 leaf_weights=numpy_helper.from_array(np.array([1.0, 2.0, 3.0], np.float32)),
                 nodes_missing_value_tracks_true=[1, 0], aggregate_function=1)
    x = np.array([[1, 0], [-1, 2], [-1, 5], [np.nan, 1]], np.float32)
    model = make_model("TreeEnsemble", {"x": x}, attrs, opset=5, domain=ML)
    (y,) = run_ronn(model, {"x": x})
    np.testing.assert_array_equal(y, [[1, 0], [0, 2], [0, 3], [0, 2]])
    assert y.dtype == np.float32


@pytest.mark.parametrize("kernel_type", ["LINEAR", "RBF", "POLY"])
def test_svm_regressor(kernel_type):
    x = RNG.normal(size=(6, 3)).astype(np.float32)
    sv = RNG.normal(size=(4, 3)).astype(np.float32)
    check("SVMRegressor", {"x": x}, {"kernel_type": kernel_type, "kernel_params": [0.5, 0.1, 2],
                                     "support_vectors": sv.reshape(-1).tolist(), "n_supports": 4,
                                     "coefficients": [0.5, -1.0, 0.25, 2.0], "rho": [0.3]},
          opset=1, domain=ML, rtol=1e-4)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_svm_classifier_one_vs_one(n_classes):
    x = RNG.normal(size=(8, 2)).astype(np.float32)
    per_class = [2, 1, 2][:n_classes]
    sv = RNG.normal(size=(sum(per_class), 2)).astype(np.float32)
    coef = RNG.normal(size=((n_classes - 1) * sum(per_class),)).round(2)
    rho = RNG.normal(size=(n_classes * (n_classes - 1) // 2,)).round(2)
    check("SVMClassifier", {"x": x}, {"kernel_type": "RBF", "kernel_params": [0.7, 0.0, 3],
                                      "support_vectors": sv.reshape(-1).tolist(),
                                      "vectors_per_class": per_class,
                                      "coefficients": coef.tolist(), "rho": rho.tolist(),
                                      "classlabels_ints": list(range(n_classes))},
          opset=1, domain=ML, n_outputs=2, rtol=1e-4, atol=1e-5)


# --- training optimizers (hand-computed: onnxruntime has no CPU kernels for these) ---------

TRAINING = "ai.onnx.preview.training"


def _run_optimizer(op, attrs, tensors, n_outputs):
    inputs = {"r": np.array(0.1, np.float32), "t": np.array(2, np.int64)}
    inputs.update({f"in{i}": v for i, v in enumerate(tensors)})
    model = make_model(op, inputs, attrs, opset=1, domain=TRAINING, n_outputs=n_outputs)
    return run_ronn(model, inputs)


def test_adagrad():
    x, g, h = (np.array([1.0, 2.0], np.float32), np.array([0.5, -1.0], np.float32),
               np.array([0.1, 0.2], np.float32))
    x_new, h_new = _run_optimizer("Adagrad", {"decay_factor": 0.1, "epsilon": 1e-6,
                                              "norm_coefficient": 0.01}, [x, g, h], 2)
    g_reg = 0.01 * x + g
    np.testing.assert_allclose(h_new, h + g_reg ** 2, rtol=1e-6)
    np.testing.assert_allclose(x_new, x - 0.1 / 1.2 * g_reg / (np.sqrt(h + g_reg ** 2) + 1e-6),
                               rtol=1e-6)


@pytest.mark.parametrize("mode", ["standard", "nesterov"])
def test_momentum(mode):
    x, g, v = (np.array([1.0, 2.0], np.float32), np.array([0.5, -1.0], np.float32),
               np.array([0.1, 0.2], np.float32))
    x_new, v_new = _run_optimizer("Momentum", {"alpha": 0.9, "beta": 0.5, "mode": mode,
                                               "norm_coefficient": 0.0}, [x, g, v], 2)
    want_v = 0.9 * v + 0.5 * g
    np.testing.assert_allclose(v_new, want_v, rtol=1e-6)
    step = want_v if mode == "standard" else g + 0.9 * want_v
    np.testing.assert_allclose(x_new, x - 0.1 * step, rtol=1e-6)


def test_adam():
    x, g, v, h = (np.array([1.0, 2.0], np.float32), np.array([0.5, -1.0], np.float32),
                  np.array([0.1, 0.2], np.float32), np.array([0.3, 0.4], np.float32))
    x_new, v_new, h_new = _run_optimizer("Adam", {"alpha": 0.9, "beta": 0.99, "epsilon": 1e-3},
                                         [x, g, v, h], 3)
    want_v, want_h = 0.9 * v + 0.1 * g, 0.99 * h + 0.01 * g * g
    rate = 0.1 * np.sqrt(1 - 0.99 ** 2) / (1 - 0.9 ** 2)
    np.testing.assert_allclose(v_new, want_v, rtol=1e-6)
    np.testing.assert_allclose(h_new, want_h, rtol=1e-6)
    np.testing.assert_allclose(x_new, x - rate * want_v / (np.sqrt(want_h) + 1e-3), rtol=1e-5)


# --- misc ops ----------------------------------------------------------------------------------

def test_swish():
    x = np.array([-2.0, 0.0, 1.5], np.float32)
    model = make_model("Swish", {"x": x}, {"alpha": 2.0}, opset=24)
    np.testing.assert_allclose(run_ronn(model, {"x": x})[0], x / (1 + np.exp(-2 * x)), rtol=1e-6)


@pytest.mark.parametrize("mode, starts, want_rows", [
    ("linear", [0, 2], [[9, 9, 0, 0], [0, 0, 9, 9]]),
    ("circular", [3, 1], [[9, 0, 0, 9], [0, 9, 9, 0]]),
])
def test_tensor_scatter(mode, starts, want_rows):
    cache = np.zeros((2, 1, 4, 3), np.float32)
    update = np.full((2, 1, 2, 3), 9, np.float32)
    inputs = {"c": cache, "u": update, "w": np.array(starts, np.int64)}
    model = make_model("TensorScatter", inputs, {"mode": mode}, opset=24)
    (y,) = run_ronn(model, inputs)
    np.testing.assert_array_equal(y[:, 0, :, 0], want_rows)
    assert not cache.any()   # the input is not written


def test_mod_and_bitshift_opset_28():
    a = np.array([-4.5, 7.0, 0.0, -3.0], np.float32)
    b = np.array([2.0, -3.0, -2.0, np.inf], np.float32)
    model = make_model("Mod", {"a": a, "b": b}, {"fmod": 0}, opset=28)
    (y,) = run_ronn(model, {"a": a, "b": b})
    np.testing.assert_array_equal(y, [1.5, -2.0, -0.0, np.inf])
    assert np.signbit(y[2])
    x, s = np.array([-8, 4, -1, 3], np.int8), np.array([8, 9, 1, -1], np.int8)
    model = make_model("BitShift", {"x": x, "s": s}, {"direction": "RIGHT"}, opset=28)
    np.testing.assert_array_equal(run_ronn(model, {"x": x, "s": s})[0], [-1, 0, -1, 0])
