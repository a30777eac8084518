"""Optional ops: an optional value is ``None`` (empty) or the tensor or sequence it holds."""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel


@kernel("Optional", since=15)
def optional(input=None, *, type=None):
    """An optional holding ``input``, or an empty one (of the given ``type``) if it is absent."""
    return input


@kernel("OptionalHasElement", since=15)
@kernel("OptionalHasElement", since=18)
def optional_has_element(input=None):
    """True (a bool scalar) when the optional holds a value.

    Opset 18 also accepts a plain tensor or sequence (always true) and an absent input (false).
    """
    return np.array(input is not None)


@kernel("OptionalGetElement", since=15)
@kernel("OptionalGetElement", since=18)
def optional_get_element(input):
    """The value an optional holds; an empty optional is an error.

    Opset 18 also accepts a plain tensor or sequence and returns it unchanged.
    """
    if input is None:
        raise ValueError("OptionalGetElement: the optional is empty")
    return input
