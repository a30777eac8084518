"""Errors of the server, subclasses of RONN's own so ``except RonnError`` still catches them."""

from __future__ import annotations

from ronn_core.errors import FeedError, OverloadedError


class InferRequestError(FeedError):
    """An inference request is malformed or does not match the model (HTTP 400)."""


class ShuttingDownError(OverloadedError):
    """The server is shutting down and takes no new requests (HTTP 503)."""
