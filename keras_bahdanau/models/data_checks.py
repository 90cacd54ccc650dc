"""Token-id checks of the arrays given to `fit`, `evaluate` and friends.

A compiled training step cannot raise on bad data: an id outside the
vocabulary makes TensorFlow fail with a bare `InvalidArgumentError` from
inside the graph, and JAX (whose gathers clamp or fill out-of-range
indices) trains silently to NaN. `AttentionSeq2Seq` runs these checks on
arrays and eager tensors before it hands them to Keras; datasets,
generators and `PyDataset`s pass unchecked (reading them would consume
them).
"""

from keras_bahdanau.layers.validation import check_token_ids

# The keys of a dict input to `AttentionSeq2Seq`, in the order of its pair.
INPUT_KEYS = ("source_ids", "target_ids")


def check_data(model, x, y, name_x: str = "x", name_y: str = "y") -> None:
    """Raises when array inputs or labels hold ids the model cannot read.

    Args:
        model: the `AttentionSeq2Seq` (its vocabulary sizes are read).
        x: what `fit` takes as `x`: a `(source_ids, target_ids)` pair
            or a dict with those keys; anything else is left alone.
        y: the target labels, or `None`.
        name_x: how the messages name `x` (e.g. `validation_data[0]`).
        name_y: how they name `y`.

    Raises:
        TypeError: float ids.
        ValueError: an id below 0 or at least the vocabulary size, or
            rows of different lengths.
    """
    sizes = (model.source_vocab_size, model.target_vocab_size)
    if isinstance(x, dict):
        for key, size in zip(INPUT_KEYS, sizes):
            if key in x and _is_data(x[key]):
                check_token_ids(f"{name_x}[{key!r}]", x[key], size)
    elif isinstance(x, (list, tuple)) and len(x) == 2:
        for index, (ids, size) in enumerate(zip(x, sizes)):
            if _is_data(ids):
                check_token_ids(f"{name_x}[{index}]", ids, size)
    if y is not None and _is_data(y):
        check_token_ids(name_y, y, model.target_vocab_size)


def check_validation_data(model, validation_data) -> None:
    """`check_data` for `fit`'s `validation_data` tuple, if it is one."""
    if isinstance(validation_data, (list, tuple)) and len(
        validation_data
    ) in (2, 3):
        check_data(
            model,
            validation_data[0],
            validation_data[1],
            name_x="validation_data[0]",
            name_y="validation_data[1]",
        )


def _is_data(value) -> bool:
    """Arrays, nested lists and tensors, not datasets or generators.

    Symbolic tensors pass too: `check_token_ids` skips what has no value.
    """
    if isinstance(value, (list, tuple)):
        return True
    return hasattr(value, "shape") and hasattr(value, "dtype")
