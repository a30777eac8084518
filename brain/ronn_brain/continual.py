"""Continual learning: a numpy head on frozen ONNX features, trained online by ``session.learn``."""

from __future__ import annotations

import collections
import threading

import numpy as np

from ronn_brain.embedding import Embedder
from ronn_brain.head import Head
from ronn_brain.options import Options, save_at_exit
from ronn_brain.replay import ReplayBuffer
from ronn_brain.rows import batch_rows
from ronn_core.errors import ConfigValueError, FeedError
from ronn_core.modules import SessionModule


class ContinualModule(SessionModule):
    """``[modules.continual]``: features from ``features_model`` (run by RONN, frozen) feed a
    trainable head whose class probabilities each run adds as output ``output``.

    ``session.learn(feeds, label)`` takes one SGD step on the slow weights over the new
    examples plus ``replay_batch`` prioritized replays (EWC penalty ``ewc_lambda``), and one
    on the decaying fast weights over the new examples only. ``consolidate()`` (or every
    ``consolidate_every`` learned examples) re-anchors EWC with a fresh Fisher estimate.
    """

    name = "continual"

    def __init__(self, session, config):
        super().__init__(session, config)
        self.opts = o = Options(self.name, session, config, {
            "features_model": ((str,), None), "features_output": ((str,), None),
            "classes": ((int,), None), "hidden": ((int,), 0), "output": ((str,), "continual"),
            "lr": ((float,), 0.1), "fast_lr": ((float,), 0.05), "fast_decay": ((float,), 0.9),
            "ewc_lambda": ((float,), 0.0), "ewc_gamma": ((float,), 1.0),
            "consolidate_every": ((int,), 0), "replay_size": ((int,), 0),
            "replay_batch": ((int,), 16), "replay_alpha": ((float,), 0.6),
            "per_row": ((bool,), True), "seed": ((int,), 0)})
        if o.classes is None or o.classes < 2:
            raise ConfigValueError(f"modules.continual.classes = {o.classes!r}: expected the "
                                   f"number of classes (an integer >= 2)")
        for key in ("hidden", "replay_size", "replay_batch", "consolidate_every"):
            o.positive(key, allow_zero=True)
        for key in ("lr", "fast_lr", "ewc_lambda"):
            o.positive(key, allow_zero=True)
        o.fraction("fast_decay")
        o.fraction("ewc_gamma")
        self.features = Embedder(session, o.existing_file("features_model"),
                                 o.features_output, self.name)
        self._lock = threading.RLock()
        self.head: Head | None = None
        self.replay: ReplayBuffer | None = None
        self._recent: collections.deque = collections.deque(maxlen=512)
        self.learned = 0
        self._since_anchor = 0
        if o.state is not None:
            arrays = o.state.load_arrays()
            if arrays is not None:
                self._build(arrays["slow/" + ("W1" if o.hidden else "W")].shape[0])
                self.head.restore(arrays)
                if self.replay is not None and "replay/labels" in arrays:
                    self.replay.restore(arrays)
                self.learned = int(arrays["learned"])
            save_at_exit(self.close)

    def _build(self, dim: int) -> None:
        o = self.opts
        self.head = Head(dim, o.classes, o.hidden, seed=o.seed)
        if o.replay_size:
            self.replay = ReplayBuffer(o.replay_size, dim, alpha=o.replay_alpha, seed=o.seed)

    # -- the session hooks --------------------------------------------------------------------

    def run(self, feeds, call_next):
        outputs = call_next(feeds)
        n = batch_rows(self.session, feeds) if self.opts.per_row else None
        x = self.features.embed(feeds, n)
        with self._lock:
            if self.head is None:
                self._build(x.shape[1])
            probs = self.head.predict(x).astype(np.float32)
        outputs = dict(outputs)
        outputs[self.opts.output] = probs if n is not None else probs[0]
        return outputs

    def learn(self, feeds, label):
        o = self.opts
        n = batch_rows(self.session, feeds) if o.per_row else None
        x = self.features.embed(feeds, n)
        y = np.asarray(label)
        if y.dtype.kind not in "iu" or y.size not in (1, len(x)):
            raise FeedError(f"modules.continual: label {label!r}: expected an integer class "
                            f"(or one per row: {len(x)})")
        y = np.broadcast_to(y.reshape(-1), (len(x),)).astype(np.int64)
        if y.min() < 0 or y.max() >= o.classes:
            raise FeedError(f"modules.continual: label {label!r} out of range; expected "
                            f"classes 0..{o.classes - 1}")
        with self._lock:
            if self.head is None:
                self._build(x.shape[1])
            head = self.head
            bx, by, slots = x, y, np.zeros(0, dtype=np.int64)
            if self.replay is not None and o.replay_batch:
                slots = self.replay.sample(o.replay_batch)
                bx = np.concatenate([x, self.replay.features[slots]])
                by = np.concatenate([y, self.replay.labels[slots]])
            loss = head.losses(x, y)
            head.step(bx, by, o.lr, o.ewc_lambda)
            if o.fast_lr:
                head.fast_step(x, y, o.fast_lr, o.fast_decay)
            if slots.size:
                self.replay.update(slots, head.losses(self.replay.features[slots],
                                                      self.replay.labels[slots]))
            if self.replay is not None:
                self.replay.add(x, y, loss)
            self._recent.extend(zip(x, y))
            self.learned += len(y)
            self._since_anchor += len(y)
            if o.consolidate_every and self._since_anchor >= o.consolidate_every:
                self.consolidate()
        return {"loss": float(loss.mean()), "replayed": int(slots.size)}

    def consolidate(self) -> None:
        """Re-anchor EWC: Fisher information over the replay buffer and recent examples."""
        with self._lock:
            if self.head is None or not self._recent:
                return
            xs = [np.stack([r[0] for r in self._recent])]
            ys = [np.array([r[1] for r in self._recent])]
            if self.replay is not None and self.replay.size:
                xs.append(self.replay.features[: self.replay.size])
                ys.append(self.replay.labels[: self.replay.size])
            self.head.consolidate(np.concatenate(xs), np.concatenate(ys), self.opts.ewc_gamma)
            self._recent.clear()
            self._since_anchor = 0

    def close(self) -> None:
        if self.opts.state is None:
            return
        with self._lock:
            if self.head is None:
                return
            arrays = {**self.head.state(), "learned": np.array(self.learned)}
            if self.replay is not None:
                arrays.update(self.replay.state())
        self.opts.state.save_arrays(arrays)
