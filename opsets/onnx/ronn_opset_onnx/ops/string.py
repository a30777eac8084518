"""String ops: StringNormalizer, RegexFullMatch, StringConcat, StringSplit, TfIdfVectorizer.

String tensors are numpy object arrays of Python ``str``.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from ronn_core.kernel_spec import kernel


def _strings(x) -> np.ndarray:
    """X as an object array of ``str`` (bytes decoded as UTF-8)."""
    x = np.asarray(x, dtype=object)
    return np.vectorize(lambda s: s.decode("utf-8") if isinstance(s, bytes) else str(s),
                        otypes=[object])(x) if x.size else x


# --- StringNormalizer --------------------------------------------------------------------------

@kernel("StringNormalizer", since=10)
def string_normalizer(x, *, case_change_action="NONE", is_case_sensitive=0, locale="",
                      stopwords=None):
    """Drop stopwords from a [C] or [1, C] string tensor, then change case (LOWER/UPPER/NONE)."""
    if case_change_action not in ("NONE", "LOWER", "UPPER"):
        raise ValueError(f"StringNormalizer: bad case_change_action {case_change_action!r}")
    if x.ndim not in (1, 2) or (x.ndim == 2 and x.shape[0] != 1):
        raise ValueError(f"StringNormalizer: input must be [C] or [1, C], got {x.shape}")
    words = list(_strings(x).reshape(-1))
    if stopwords:
        if is_case_sensitive:
            stop = set(stopwords)
            words = [w for w in words if w not in stop]
        else:
            stop = {s.casefold() for s in stopwords}
            words = [w for w in words if w.casefold() not in stop]
    if case_change_action == "LOWER":
        words = [w.lower() for w in words]
    elif case_change_action == "UPPER":
        words = [w.upper() for w in words]
    if not words:  # everything filtered out: a single empty string
        words = [""]
    out = np.array(words, dtype=object)
    return out.reshape(1, -1) if x.ndim == 2 else out


# --- RegexFullMatch ----------------------------------------------------------------------------

@kernel("RegexFullMatch", since=20)
def regex_full_match(x, *, pattern=""):
    """True where the whole string matches ``pattern`` (Python ``re`` standing in for RE2)."""
    regex = re.compile(pattern)
    flat = [regex.fullmatch(s) is not None for s in _strings(x).reshape(-1)]
    return np.array(flat, dtype=bool).reshape(x.shape)


# --- StringConcat ------------------------------------------------------------------------------

@kernel("StringConcat", since=20)
def string_concat(x, y):
    """Elementwise X + Y on strings, numpy-broadcast."""
    x, y = np.broadcast_arrays(_strings(x), _strings(y))
    out = np.empty(x.shape, dtype=object)
    out.reshape(-1)[:] = [a + b for a, b in zip(x.reshape(-1), y.reshape(-1))]
    return out


# --- StringSplit -------------------------------------------------------------------------------

@kernel("StringSplit", since=20)
def string_split(x, *, delimiter="", maxsplit=None):
    """Split each string (by ``delimiter``, or runs of whitespace if empty); pad with "".

    Returns the substrings, shape X.shape + [max count], and the count per element (int64).
    """
    limit = -1 if maxsplit is None else int(maxsplit)
    sep = delimiter or None   # None: split on runs of whitespace
    # an empty string has no substrings; whitespace splitting also drops trailing whitespace
    parts = [(s.split(sep, limit) if sep else s.strip().split(None, limit)) if s else []
             for s in _strings(x).reshape(-1)]
    lengths = np.array([len(p) for p in parts], dtype=np.int64).reshape(x.shape)
    width = int(lengths.max()) if lengths.size else 0
    out = np.full((len(parts), width), "", dtype=object)
    for row, p in zip(out, parts):
        row[:len(p)] = p
    return out.reshape(x.shape + (width,)), lengths


# --- TfIdfVectorizer ---------------------------------------------------------------------------

def _ngram_table(ngram_counts, ngram_indexes, pool, max_gram_length):
    """Map each pool n-gram (a tuple) to its output column."""
    starts = [int(c) for c in ngram_counts] + [len(pool)]
    table, position = {}, 0
    for n, (begin, end) in enumerate(zip(starts[:-1], starts[1:]), start=1):
        if n > max_gram_length:
            break
        for i in range(begin, end, n):
            table[tuple(pool[i:i + n])] = int(ngram_indexes[position])
            position += 1
    return table


def _count_ngrams(row, table, min_n, max_n, max_skip, width) -> np.ndarray:
    counts = Counter()
    for n in range(min_n, max_n + 1):
        for skip in range(max_skip + 1 if n > 1 else 1):   # unigrams have no gaps to skip
            step = skip + 1
            span = (n - 1) * step
            for start in range(len(row) - span):
                column = table.get(tuple(row[start:start + span + 1:step]))
                if column is not None:
                    counts[column] += 1
    out = np.zeros(width, dtype=np.float32)
    for column, count in counts.items():
        out[column] = count
    return out


@kernel("TfIdfVectorizer", since=9)
def tfidf_vectorizer(x, *, max_gram_length, min_gram_length, max_skip_count, mode, ngram_counts,
                     ngram_indexes, pool_int64s=None, pool_strings=None, weights=None):
    """Count the pool's n-grams (with up to ``max_skip_count`` skips) per row; TF, IDF or TFIDF."""
    if mode not in ("TF", "IDF", "TFIDF"):
        raise ValueError(f"TfIdfVectorizer: bad mode {mode!r}")
    if x.ndim not in (1, 2):
        raise ValueError(f"TfIdfVectorizer: input must be [C] or [N, C], got {x.shape}")
    if pool_strings is not None:
        pool, rows = list(pool_strings), _strings(x)
    else:
        pool, rows = [int(v) for v in pool_int64s], np.asarray(x).astype(np.int64)
    table = _ngram_table(ngram_counts, ngram_indexes, pool, max_gram_length)
    width = max((int(i) for i in ngram_indexes), default=-1) + 1
    batch = rows.reshape(1, -1) if x.ndim == 1 else rows
    tf = np.stack([_count_ngrams(list(r), table, min_gram_length, max_gram_length,
                                 max_skip_count, width) for r in batch]) \
        if len(batch) else np.zeros((0, width), dtype=np.float32)
    weight = np.ones(width, np.float32) if weights is None else np.zeros(width, np.float32)
    if weights is not None:
        weight[[int(i) for i in ngram_indexes]] = np.asarray(weights, np.float32)
    if mode == "IDF":
        out = (tf > 0).astype(np.float32) * weight
    elif mode == "TFIDF":
        out = tf * weight
    else:
        out = tf
    return out.reshape(width) if x.ndim == 1 else out
