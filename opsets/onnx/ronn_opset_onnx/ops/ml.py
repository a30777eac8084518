"""Traditional-ML ops of the ai.onnx.ml domain: encoders, scalers, linear models, tree ensembles, SVMs.

Most of these take a [N, C] (or [C]) feature tensor and produce float32 outputs.
"""

from __future__ import annotations

import math

import numpy as np

from ronn_core.kernel_spec import kernel

from .unary import erf_values

ML = "ai.onnx.ml"


def _rows(x) -> np.ndarray:
    """X as a 2-D [N, C] array (a 1-D X is one row)."""
    x = np.asarray(x)
    return x.reshape(1, -1) if x.ndim <= 1 else x.reshape(x.shape[0], -1)


def _labels(ints, strings):
    """The class labels (int64 or string array) and whether they are strings."""
    if strings:
        return np.array(list(strings), dtype=object), True
    return np.array(list(ints or []), dtype=np.int64), False


# --- post transforms ---------------------------------------------------------------------------

def _logistic(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_zero(x):
    """Softmax where zero scores stay zero."""
    e = np.where(x != 0, np.exp(x - x.max(axis=-1, keepdims=True)), 0.0)
    total = e.sum(axis=-1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total != 0)


def _probit(p):
    """sqrt(2) * erfinv(2p - 1): an initial approximation refined by Newton steps."""
    p = np.asarray(p, dtype=np.float64)
    outside = (p < 0) | (p > 1)
    y = np.clip(2 * p - 1, -1 + 1e-15, 1 - 1e-15)
    a = 0.147
    ln = np.log(1 - y * y)
    t = 2 / (math.pi * a) + ln / 2
    z = np.sign(y) * np.sqrt(np.sqrt(t * t - ln / a) - t)
    for _ in range(3):
        z -= (erf_values(z) - y) / (2 / math.sqrt(math.pi) * np.exp(-z * z))
    return np.where(outside, np.nan, math.sqrt(2) * z)


def _post_transform(scores, transform: str):
    """Apply NONE / SOFTMAX / LOGISTIC / SOFTMAX_ZERO / PROBIT to [N, K] scores."""
    if transform == "NONE":
        return scores
    if transform == "SOFTMAX":
        return _softmax(scores)
    if transform == "LOGISTIC":
        return _logistic(scores)
    if transform == "SOFTMAX_ZERO":
        return _softmax_zero(scores)
    if transform == "PROBIT":
        return _probit(scores)
    raise ValueError(f"unknown post_transform {transform!r}")


_TRANSFORMS = ["NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"]


# --- simple elementwise / feature ops ----------------------------------------------------------

@kernel("ArrayFeatureExtractor", domain=ML, since=1)
def array_feature_extractor(x, y):
    """Select the entries of X's last axis at indices Y (a 1-D X gives a [1, len(Y)] result)."""
    indices = np.asarray(y, dtype=np.int64).reshape(-1)
    dim = x.shape[-1]
    if indices.size and (indices.min() < 0 or indices.max() >= dim):
        raise IndexError(f"ArrayFeatureExtractor: index out of range for a last dim of {dim}")
    out = np.take(x, indices, axis=-1)
    return out.reshape(1, -1) if x.ndim == 1 else out


@kernel("Binarizer", domain=ML, since=1)
def binarizer(x, *, threshold=0.0):
    """1 where X > threshold, else 0, in X's dtype."""
    return (x > threshold).astype(x.dtype)


@kernel("Scaler", domain=ML, since=1)
def scaler(x, *, offset=None, scale=None):
    """(X - offset) * scale per feature (a single value applies to all), as float32."""
    x = np.asarray(x, dtype=np.float32)
    offset = np.float32(0) if offset is None else np.asarray(offset, dtype=np.float32)
    scale = np.float32(1) if scale is None else np.asarray(scale, dtype=np.float32)
    return ((x - offset) * scale).astype(np.float32)


@kernel("Normalizer", domain=ML, since=1)
def normalizer(x, *, norm="MAX"):
    """Divide each row by its MAX, L1 or L2 norm; float32."""
    rows = _rows(x).astype(np.float32)
    if norm == "MAX":
        denom = rows.max(axis=1, keepdims=True)
    elif norm == "L1":
        denom = np.abs(rows).sum(axis=1, keepdims=True)
    elif norm == "L2":
        denom = np.sqrt((rows * rows).sum(axis=1, keepdims=True))
    else:
        raise ValueError(f"Normalizer: unknown norm {norm!r}")
    with np.errstate(all="ignore"):
        out = np.where(denom != 0, rows / denom, rows)
    return out.astype(np.float32).reshape(np.shape(x) if np.ndim(x) == 2 else out.shape)


@kernel("OneHotEncoder", domain=ML, since=1)
def one_hot_encoder(x, *, cats_int64s=None, cats_strings=None, zeros=1):
    """One-hot each value over the categories: output X.shape + [n_cats], float32."""
    cats = list(cats_strings) if cats_strings else [int(c) for c in cats_int64s or []]
    position = {c: i for i, c in enumerate(cats)}
    values = x.reshape(-1)
    if not cats_strings:
        values = np.asarray(values).astype(np.int64)
    out = np.zeros((values.size, len(cats)), dtype=np.float32)
    for row, v in enumerate(values.tolist()):
        i = position.get(v)
        if i is not None:
            out[row, i] = 1.0
        elif not zeros:
            raise ValueError(f"OneHotEncoder: value {v!r} is not a category and zeros=0")
    return out.reshape(x.shape + (len(cats),))


@kernel("Imputer", domain=ML, since=1)
def imputer(x, *, imputed_value_floats=None, imputed_value_int64s=None,
            replaced_value_float=0.0, replaced_value_int64=0):
    """Replace the ``replaced_value`` (NaN matches NaN) with the imputed value (per feature or one)."""
    if np.issubdtype(x.dtype, np.floating):
        imputed = np.asarray(imputed_value_floats, dtype=x.dtype)
        target = replaced_value_float
        missing = np.isnan(x) if math.isnan(target) else x == target
    else:
        imputed = np.asarray(imputed_value_int64s, dtype=x.dtype)
        missing = x == replaced_value_int64
    if imputed.size not in (1, x.shape[-1]):
        raise ValueError("Imputer: need one imputed value or one per feature")
    return np.where(missing, imputed.reshape(-1) if imputed.size > 1 else imputed.reshape(()), x)


@kernel("FeatureVectorizer", domain=ML, since=1)
def feature_vectorizer(*inputs, inputdimensions=None):
    """Concatenate the inputs' features (each cut or zero-padded to its dimension); float32."""
    dims = list(inputdimensions or [])
    parts = []
    for i, x in enumerate(inputs):
        rows = _rows(x).astype(np.float32)
        want = dims[i] if i < len(dims) else rows.shape[1]
        part = np.zeros((rows.shape[0], want), dtype=np.float32)
        take = min(want, rows.shape[1])
        part[:, :take] = rows[:, :take]
        parts.append(part)
    return np.concatenate(parts, axis=1)


@kernel("ZipMap", domain=ML, since=1)
def zip_map(x, *, classlabels_int64s=None, classlabels_strings=None):
    """Each row of [N, C] scores as a dict {class label: score}; a list of N dicts."""
    labels = list(classlabels_strings) if classlabels_strings else \
        [int(c) for c in classlabels_int64s]
    rows = _rows(x)
    if rows.shape[1] != len(labels):
        raise ValueError(f"ZipMap: {rows.shape[1]} columns but {len(labels)} labels")
    return [dict(zip(labels, map(float, row))) for row in rows]


@kernel("CategoryMapper", domain=ML, since=1)
def category_mapper(x, *, cats_int64s=None, cats_strings=None, default_int64=-1,
                    default_string="_Unused"):
    """Map strings to ints (or ints to strings) by the paired cats_* lists, else the default."""
    if x.dtype == object:
        table = dict(zip(cats_strings or [], (int(v) for v in cats_int64s or [])))
        flat = [table.get(s, default_int64) for s in x.reshape(-1)]
        return np.array(flat, dtype=np.int64).reshape(x.shape)
    table = dict(zip((int(v) for v in cats_int64s or []), cats_strings or []))
    out = np.empty(x.shape, dtype=object)
    out.reshape(-1)[:] = [table.get(int(v), default_string) for v in x.reshape(-1)]
    return out


@kernel("DictVectorizer", domain=ML, since=1)
def dict_vectorizer(x, *, int64_vocabulary=None, string_vocabulary=None):
    """A map (or list of maps) as a dense [N, len(vocabulary)] row per map; absent keys are 0."""
    vocab = list(string_vocabulary) if string_vocabulary else \
        [int(v) for v in int64_vocabulary or []]
    position = {k: i for i, k in enumerate(vocab)}
    maps = [x] if isinstance(x, dict) else list(x)
    values = [v for m in maps for v in m.values()]
    dtype = np.asarray(values).dtype if values else np.float32
    if dtype == object:
        dtype = np.float32
    out = np.zeros((len(maps), len(vocab)), dtype=dtype)
    for row, m in enumerate(maps):
        for key, value in m.items():
            i = position.get(key)
            if i is not None:
                out[row, i] = value
    return out


# --- LabelEncoder ------------------------------------------------------------------------------

@kernel("LabelEncoder", domain=ML, since=1)
def label_encoder_v1(x, *, classes_strings=None, default_int64=-1, default_string="_Unused"):
    """Strings to their index in ``classes_strings``, or int64 indices back to those strings."""
    classes = list(classes_strings or [])
    if x.dtype == object:
        index = {c: i for i, c in enumerate(classes)}
        flat = [index.get(s, default_int64) for s in x.reshape(-1)]
        return np.array(flat, dtype=np.int64).reshape(x.shape)
    out = np.empty(x.shape, dtype=object)
    out.reshape(-1)[:] = [classes[i] if 0 <= i < len(classes) else default_string
                          for i in x.reshape(-1).astype(np.int64).tolist()]
    return out


def _lookup_key(value):
    """A dict key for a scalar: NaN keys match NaN values."""
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


@kernel("LabelEncoder", domain=ML, since=2)
@kernel("LabelEncoder", domain=ML, since=4)
def label_encoder(x, *, keys_floats=None, keys_int64s=None, keys_strings=None,
                  values_floats=None, values_int64s=None, values_strings=None,
                  keys_tensor=None, values_tensor=None, default_float=-0.0, default_int64=-1,
                  default_string="_Unused", default_tensor=None):
    """Map each element through the keys -> values table; unmatched elements get the default."""
    if keys_tensor is not None:
        keys = keys_tensor.reshape(-1).tolist()
    else:
        keys = next((list(k) for k in (keys_strings, keys_int64s, keys_floats) if k), [])
    if values_tensor is not None:
        values = np.asarray(values_tensor).reshape(-1)
        out_dtype = values.dtype
    elif values_strings:
        values, out_dtype = np.array(list(values_strings), dtype=object), np.dtype(object)
    elif values_int64s:
        values, out_dtype = np.array(list(values_int64s), dtype=np.int64), np.dtype(np.int64)
    elif values_floats:
        values, out_dtype = np.array(list(values_floats), dtype=np.float32), np.dtype(np.float32)
    else:
        raise ValueError("LabelEncoder: no values attribute")
    if len(keys) != len(values):
        raise ValueError(f"LabelEncoder: {len(keys)} keys but {len(values)} values")
    if default_tensor is not None:
        default = np.asarray(default_tensor).reshape(-1)[0]
    elif out_dtype == object:
        default = default_string
    elif np.issubdtype(out_dtype, np.integer):
        default = default_int64
    else:
        default = default_float
    table = {_lookup_key(k): i for i, k in enumerate(keys)}
    flat = x.reshape(-1).tolist()
    idx = np.array([table.get(_lookup_key(v), -1) for v in flat], dtype=np.int64)
    out = np.empty(len(flat), dtype=out_dtype)
    hit = idx >= 0
    out[hit] = values[idx[hit]]
    out[~hit] = default
    return out.reshape(x.shape)


# --- tree ensembles ----------------------------------------------------------------------------
#
# Every tree format is turned into one flat node table: per node a mode, feature, split, the
# true/false child node, whether a missing value goes to the true side, and a member set; leaves
# are nodes of mode LEAF carrying a dense weight row (one entry per target or class).

_LEQ, _LT, _GTE, _GT, _EQ, _NEQ, _MEMBER, _LEAF = range(8)
_MODE_NAMES = {"BRANCH_LEQ": _LEQ, "BRANCH_LT": _LT, "BRANCH_GTE": _GTE, "BRANCH_GT": _GT,
               "BRANCH_EQ": _EQ, "BRANCH_NEQ": _NEQ, "BRANCH_MEMBER": _MEMBER, "LEAF": _LEAF}


class _Forest:
    """A flat node table and the root of each tree."""

    def __init__(self, modes, features, splits, true_ids, false_ids, missing_true, roots,
                 weights, has_weight, members=None):
        self.modes = np.asarray(modes, dtype=np.int64)
        self.features = np.asarray(features, dtype=np.int64)
        self.splits = np.asarray(splits, dtype=np.float64)
        self.true_ids = np.asarray(true_ids, dtype=np.int64)
        self.false_ids = np.asarray(false_ids, dtype=np.int64)
        self.missing_true = np.asarray(missing_true, dtype=bool)
        self.roots = np.asarray(roots, dtype=np.int64)
        self.weights = weights          # [n_nodes, n_targets] float64 (zero off the leaves)
        self.has_weight = has_weight    # [n_nodes, n_targets] bool
        self.members = members or {}    # node -> array of member values

    def leaves(self, x: np.ndarray) -> np.ndarray:
        """The leaf reached by every row in every tree: [n_trees, N] node indices."""
        x = x.astype(np.float64)
        n = x.shape[0]
        node = np.repeat(self.roots[:, None], n, axis=1)
        rows = np.broadcast_to(np.arange(n), node.shape)
        for _ in range(len(self.modes) + 1):
            active = self.modes[node] != _LEAF
            if not active.any():
                return node
            at, r = node[active], rows[active]
            value = x[r, self.features[at]]
            split, mode = self.splits[at], self.modes[at]
            with np.errstate(invalid="ignore"):
                go_true = np.select(
                    [mode == _LEQ, mode == _LT, mode == _GTE, mode == _GT, mode == _EQ,
                     mode == _NEQ],
                    [value <= split, value < split, value >= split, value > split,
                     value == split, value != split], default=False)
            for member_node, values in self.members.items():
                here = at == member_node
                go_true[here] = np.isin(value[here], values)
            go_true |= np.isnan(value) & self.missing_true[at]
            node[active] = np.where(go_true, self.true_ids[at], self.false_ids[at])
        raise ValueError("tree ensemble: a tree has a cycle")

    def aggregate(self, x: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
        """Per row and target: the SUM / AVERAGE / MIN / MAX of leaf weights, and whether set."""
        leaves = self.leaves(_rows(x))
        weights, has = self.weights[leaves], self.has_weight[leaves]   # [trees, N, targets]
        hit = has.any(axis=0)
        if how in ("SUM", "AVERAGE"):
            out = weights.sum(axis=0)
            if how == "AVERAGE":
                out = out / max(len(self.roots), 1)
        elif how == "MIN":
            out = np.where(has, weights, np.inf).min(axis=0)
        elif how == "MAX":
            out = np.where(has, weights, -np.inf).max(axis=0)
        else:
            raise ValueError(f"unknown aggregate_function {how!r}")
        return np.where(hit, out, 0.0), hit


def _legacy_forest(prefix_ids, nodes_treeids, nodes_nodeids, nodes_featureids, nodes_modes,
                   nodes_values, nodes_truenodeids, nodes_falsenodeids,
                   nodes_missing_value_tracks_true, n_targets):
    """The flat forest of the (treeid, nodeid)-keyed format used by TreeEnsemble{Classifier,Regressor}.

    ``prefix_ids`` is (treeids, nodeids, target ids, weights) of the leaf weights.
    """
    keys = list(zip((int(t) for t in nodes_treeids), (int(n) for n in nodes_nodeids)))
    index = {k: i for i, k in enumerate(keys)}
    size = len(keys)
    modes = [_MODE_NAMES[m] for m in nodes_modes]
    true_ids = [index.get((t, int(c)), 0) if m != _LEAF else i for i, ((t, _), c, m)
                in enumerate(zip(keys, nodes_truenodeids, modes))]
    false_ids = [index.get((t, int(c)), 0) if m != _LEAF else i for i, ((t, _), c, m)
                 in enumerate(zip(keys, nodes_falsenodeids, modes))]
    missing = list(nodes_missing_value_tracks_true or []) or [0] * size
    roots, seen = [], set()
    for i, (t, _) in enumerate(keys):   # the first node listed for a tree is its root
        if t not in seen:
            seen.add(t)
            roots.append(i)
    weights = np.zeros((size, n_targets))
    has = np.zeros((size, n_targets), dtype=bool)
    for t, n, target, w in zip(*prefix_ids):
        i = index[(int(t), int(n))]
        weights[i, int(target)] += w
        has[i, int(target)] = True
    return _Forest(modes, nodes_featureids, nodes_values, true_ids, false_ids, missing, roots,
                   weights, has)


def _splits(values, tensor):
    return np.asarray(tensor).reshape(-1) if tensor is not None else list(values or [])


@kernel("TreeEnsembleRegressor", domain=ML, since=1)
@kernel("TreeEnsembleRegressor", domain=ML, since=3)
def tree_ensemble_regressor(x, *, aggregate_function="SUM", base_values=None,
                            base_values_as_tensor=None, n_targets=1, nodes_falsenodeids=(),
                            nodes_featureids=(), nodes_hitrates=None,
                            nodes_hitrates_as_tensor=None, nodes_missing_value_tracks_true=None,
                            nodes_modes=(), nodes_nodeids=(), nodes_treeids=(),
                            nodes_truenodeids=(), nodes_values=None, nodes_values_as_tensor=None,
                            post_transform="NONE", target_ids=(), target_nodeids=(),
                            target_treeids=(), target_weights=None,
                            target_weights_as_tensor=None):
    """Sum (or average/min/max) the leaf weights over the trees, add base values: [N, n_targets]."""
    forest = _legacy_forest(
        (target_treeids, target_nodeids, target_ids, _splits(target_weights,
                                                             target_weights_as_tensor)),
        nodes_treeids, nodes_nodeids, nodes_featureids, nodes_modes,
        _splits(nodes_values, nodes_values_as_tensor), nodes_truenodeids, nodes_falsenodeids,
        nodes_missing_value_tracks_true, n_targets)
    scores, _ = forest.aggregate(x, aggregate_function)
    base = _splits(base_values, base_values_as_tensor)
    if len(base):
        scores = scores + np.asarray(base, dtype=np.float64)
    return _post_transform(scores, post_transform).astype(np.float32)


@kernel("TreeEnsembleClassifier", domain=ML, since=1)
@kernel("TreeEnsembleClassifier", domain=ML, since=3)
def tree_ensemble_classifier(x, *, base_values=None, base_values_as_tensor=None,
                             class_ids=(), class_nodeids=(), class_treeids=(), class_weights=None,
                             class_weights_as_tensor=None, classlabels_int64s=None,
                             classlabels_strings=None, nodes_falsenodeids=(),
                             nodes_featureids=(), nodes_hitrates=None,
                             nodes_hitrates_as_tensor=None, nodes_missing_value_tracks_true=None,
                             nodes_modes=(), nodes_nodeids=(), nodes_treeids=(),
                             nodes_truenodeids=(), nodes_values=None, nodes_values_as_tensor=None,
                             post_transform="NONE"):
    """Sum class weights over the trees: (label [N], scores [N, n_classes]).

    With two labels, the class-1 score s picks the label (s > 0.5 if all weights are positive,
    else s > 0); if only class 0 has weights, its score is s and the other column is derived
    from it (1 - s, or -s when weights can be negative), as in onnxruntime.
    """
    labels, _ = _labels(classlabels_int64s, classlabels_strings)
    n_classes = len(labels)
    weights = np.asarray(_splits(class_weights, class_weights_as_tensor), dtype=np.float64)
    forest = _legacy_forest(
        (class_treeids, class_nodeids, class_ids, weights), nodes_treeids, nodes_nodeids,
        nodes_featureids, nodes_modes, _splits(nodes_values, nodes_values_as_tensor),
        nodes_truenodeids, nodes_falsenodeids, nodes_missing_value_tracks_true,
        max(n_classes, max((int(c) for c in class_ids), default=0) + 1))
    scores, _ = forest.aggregate(x, "SUM")
    scores = scores[:, :n_classes]
    base = np.asarray(_splits(base_values, base_values_as_tensor), dtype=np.float64)
    if n_classes != 2:
        if base.size:
            scores = scores + base
        label = labels[np.argmax(scores, axis=1)]
        return label, _post_transform(scores, post_transform).astype(np.float32)
    # Two labels: the class-1 score decides, against 0.5 when every weight is positive (a
    # probability), else against 0 (a margin).
    positive = bool((weights >= 0).all()) if weights.size else True
    if base.size == 2:
        scores = scores + base
    elif base.size == 1:
        scores[:, 0] += base[0]
    if 1 in {int(c) for c in class_ids}:
        s = scores[:, 1]
        scores = _post_transform(scores, post_transform)
    else:   # only class 0 scored: a single column s, the other derived from it
        s = scores[:, 0]
        if post_transform == "LOGISTIC":
            scores = np.stack([_logistic(-s), _logistic(s)], axis=1)
        else:
            scores = np.stack([1 - s if positive else -s, s], axis=1)
            if post_transform == "PROBIT":
                scores = _probit(scores)
    label = labels[(s > (0.5 if positive else 0.0)).astype(np.int64)]
    return label, scores.astype(np.float32)


@kernel("TreeEnsemble", domain=ML, since=5)
def tree_ensemble(x, *, aggregate_function=1, leaf_targetids=(), leaf_weights=None,
                  membership_values=None, n_targets=None, nodes_falseleafs=(),
                  nodes_falsenodeids=(), nodes_featureids=(), nodes_hitrates=None,
                  nodes_missing_value_tracks_true=None, nodes_modes=None, nodes_splits=None,
                  nodes_trueleafs=(), nodes_truenodeids=(), post_transform=0, tree_roots=()):
    """Evaluate the trees (leaves as a separate table) and aggregate per target: [N, n_targets]."""
    modes = np.asarray(nodes_modes).astype(np.int64).reshape(-1)
    n_nodes = len(modes)
    leaf_w = np.asarray(leaf_weights, dtype=np.float64).reshape(-1)
    n_leaves = len(leaf_w)
    n_targets = int(n_targets) if n_targets is not None else \
        max((int(t) for t in leaf_targetids), default=-1) + 1
    # leaves go after the interior nodes in the flat table
    true_ids = np.where(np.asarray(nodes_trueleafs, dtype=bool),
                        n_nodes + np.asarray(nodes_truenodeids), nodes_truenodeids)
    false_ids = np.where(np.asarray(nodes_falseleafs, dtype=bool),
                         n_nodes + np.asarray(nodes_falsenodeids), nodes_falsenodeids)
    members, sets = {}, []
    if membership_values is not None:
        current = []
        for v in np.asarray(membership_values, dtype=np.float64).reshape(-1):
            if math.isnan(v):
                sets.append(np.array(current))
                current = []
            else:
                current.append(v)
        if current:
            sets.append(np.array(current))
    for node in np.flatnonzero(modes == _MEMBER):
        members[int(node)] = sets[len(members)]
    total = n_nodes + n_leaves
    weights = np.zeros((total, n_targets))
    has = np.zeros((total, n_targets), dtype=bool)
    weights[n_nodes + np.arange(n_leaves), np.asarray(leaf_targetids, dtype=np.int64)] = leaf_w
    has[n_nodes + np.arange(n_leaves), np.asarray(leaf_targetids, dtype=np.int64)] = True
    missing = list(nodes_missing_value_tracks_true or []) or [0] * n_nodes
    pad = [0] * n_leaves
    forest = _Forest(
        np.concatenate([modes, np.full(n_leaves, _LEAF)]), list(nodes_featureids) + pad,
        np.concatenate([np.asarray(nodes_splits, dtype=np.float64).reshape(-1), np.zeros(n_leaves)]),
        np.concatenate([true_ids, n_nodes + np.arange(n_leaves)]),
        np.concatenate([false_ids, n_nodes + np.arange(n_leaves)]),
        list(missing) + pad, tree_roots, weights, has, members)
    how = ["AVERAGE", "SUM", "MIN", "MAX"][int(aggregate_function)]
    scores, _ = forest.aggregate(x, how)
    scores = _post_transform(scores, _TRANSFORMS[int(post_transform)])
    return scores.astype(x.dtype)


# --- linear models -----------------------------------------------------------------------------

@kernel("LinearRegressor", domain=ML, since=1)
def linear_regressor(x, *, coefficients=None, intercepts=None, post_transform="NONE", targets=1):
    """X @ W.T + b with W of shape [targets, C]; float32 [N, targets]."""
    rows = _rows(x).astype(np.float32)
    w = np.asarray(coefficients, dtype=np.float32).reshape(targets, -1)
    scores = rows @ w.T
    if intercepts:
        scores = scores + np.asarray(intercepts, dtype=np.float32)
    return _post_transform(scores, post_transform).astype(np.float32)


@kernel("LinearClassifier", domain=ML, since=1)
def linear_classifier(x, *, coefficients, classlabels_ints=None, classlabels_strings=None,
                      intercepts=None, multi_class=0, post_transform="NONE"):
    """Scores X @ W.T + b per class and the argmax label: (label [N], scores [N, K]).

    With two labels and one coefficient row, the row scores the positive class s, the label is
    positive when s > 0, and the scores are [1 - s, s] (s after LOGISTIC; PROBIT applies to both;
    the softmaxes do not apply to one score), as in onnxruntime.
    """
    labels, _ = _labels(classlabels_ints, classlabels_strings)
    rows = _rows(x).astype(np.float32)
    w = np.asarray(coefficients, dtype=np.float32).reshape(-1, rows.shape[1])
    scores = rows @ w.T
    if intercepts:
        scores = scores + np.asarray(intercepts, dtype=np.float32)
    if w.shape[0] == 1 and len(labels) == 2:
        s = scores[:, 0]
        label = labels[(s > 0).astype(np.int64)]
        if post_transform == "LOGISTIC":
            s = _logistic(s)
        scores = np.stack([1 - s, s], axis=1)
        if post_transform == "PROBIT":
            scores = _probit(scores)
        return label, scores.astype(np.float32)
    label = labels[np.argmax(scores, axis=1)]
    return label, _post_transform(scores, post_transform).astype(np.float32)


# --- SVMs --------------------------------------------------------------------------------------

def _svm_kernel(kind: str, params, x, sv):
    """The kernel matrix K(x_i, sv_j) for LINEAR / POLY / RBF / SIGMOID."""
    gamma, coef0, degree = (list(params or []) + [0.0, 0.0, 0.0])[:3]
    if kind == "LINEAR":
        return x @ sv.T
    if kind == "POLY":
        return (gamma * (x @ sv.T) + coef0) ** int(degree)
    if kind == "RBF":
        d2 = ((x[:, None, :] - sv[None, :, :]) ** 2).sum(axis=-1)
        return np.exp(-gamma * d2)
    if kind == "SIGMOID":
        return np.tanh(gamma * (x @ sv.T) + coef0)
    raise ValueError(f"unknown SVM kernel_type {kind!r}")


@kernel("SVMRegressor", domain=ML, since=1)
def svm_regressor(x, *, coefficients=None, kernel_params=None, kernel_type="LINEAR", n_supports=0,
                  one_class=0, post_transform="NONE", rho=None, support_vectors=None):
    """sum_j coef_j K(x, sv_j) + rho (or a linear model without support vectors): [N, 1]."""
    rows = _rows(x).astype(np.float64)
    coef = np.asarray(coefficients, dtype=np.float64)
    if n_supports:
        sv = np.asarray(support_vectors, dtype=np.float64).reshape(n_supports, -1)
        score = _svm_kernel(kernel_type, kernel_params, rows, sv) @ coef
    else:
        score = rows @ coef
    score = score + (rho[0] if rho else 0.0)
    if one_class:
        score = np.where(score > 0, 1.0, -1.0)
    return _post_transform(score[:, None], post_transform).astype(np.float32)


@kernel("SVMClassifier", domain=ML, since=1)
def svm_classifier(x, *, classlabels_ints=None, classlabels_strings=None, coefficients=None,
                   kernel_params=None, kernel_type="LINEAR", post_transform="NONE", prob_a=None,
                   prob_b=None, rho=None, support_vectors=None, vectors_per_class=None):
    """One-vs-one SVM (libsvm layout) voting, or a linear one-vs-rest SVM without support vectors.

    Returns (label [N], scores [N, K]); the scores are the pairwise decision values (or per-class
    scores); probability estimates (prob_a/prob_b) are not supported.
    """
    if prob_a:
        raise NotImplementedError("SVMClassifier: probability estimates (prob_a) not supported")
    labels, _ = _labels(classlabels_ints, classlabels_strings)
    rows = _rows(x).astype(np.float64)
    coef = np.asarray(coefficients, dtype=np.float64)
    rho = np.asarray(rho or [0.0], dtype=np.float64)
    n_classes = len(labels)
    if not vectors_per_class:
        # linear one-vs-rest: coefficients are [n_classes, C]
        w = coef.reshape(-1, rows.shape[1])
        scores = rows @ w.T + rho[:w.shape[0]]
        if w.shape[0] == 1 and n_classes == 2:
            s = scores[:, 0]
            label = labels[(s > 0).astype(np.int64)]
            return label, _post_transform(np.stack([-s, s], axis=1), post_transform
                                          ).astype(np.float32)
        label = labels[np.argmax(scores, axis=1)]
        return label, _post_transform(scores, post_transform).astype(np.float32)
    counts = [int(v) for v in vectors_per_class]
    starts = np.concatenate([[0], np.cumsum(counts)])
    sv = np.asarray(support_vectors, dtype=np.float64).reshape(starts[-1], -1)
    kern = _svm_kernel(kernel_type, kernel_params, rows, sv)          # [N, total_sv]
    coef = coef.reshape(n_classes - 1, starts[-1])
    votes = np.zeros((len(rows), n_classes), dtype=np.int64)
    decisions, pair = [], 0
    for i in range(n_classes):
        for j in range(i + 1, n_classes):
            si, sj = slice(starts[i], starts[i + 1]), slice(starts[j], starts[j + 1])
            d = kern[:, si] @ coef[j - 1, si] + kern[:, sj] @ coef[i, sj] + rho[pair]
            decisions.append(d)
            winner = np.where(d > 0, i, j)
            votes[np.arange(len(rows)), winner] += 1
            pair += 1
    scores = np.stack(decisions, axis=1)
    if n_classes == 2:
        label = labels[np.where(scores[:, 0] > 0, 0, 1)]
        s = scores[:, 0]
        return label, _post_transform(np.stack([-s, s], axis=1), post_transform
                                      ).astype(np.float32)
    label = labels[np.argmax(votes, axis=1)]
    return label, _post_transform(scores, post_transform).astype(np.float32)
