"""tf.data pipelines of token ids from string pairs, for training."""

import warnings

import keras
import tensorflow as tf

from keras_bahdanau.layers.validation import check_positive_int
from keras_bahdanau.text import TextTokenizer


def filter_pairs(
    pairs: list,
    source_tokenizer: TextTokenizer,
    target_tokenizer: TextTokenizer,
    max_source_length: int,
    max_target_length: int,
) -> tuple[list, int]:
    """Drops pairs with a side longer than its maximum (in sub-words).

    Args:
        pairs: `(source, target)` string pairs.
        source_tokenizer: tokenizer of the sources.
        target_tokenizer: tokenizer of the targets.
        max_source_length: most source sub-words (`[END]` not counted).
        max_target_length: most target sub-words (`[START]`/`[END]` not
            counted).

    Returns:
        `(kept_pairs, number_dropped)`.
    """
    if not pairs:
        return [], 0
    sources = tf.constant([s for s, _ in pairs])
    targets = tf.constant([t for _, t in pairs])
    source_lengths = source_tokenizer.tokenize(sources).row_lengths().numpy()
    target_lengths = target_tokenizer.tokenize(targets).row_lengths().numpy()
    keep = (source_lengths <= max_source_length) & (
        target_lengths <= max_target_length
    )
    kept = [pair for pair, ok in zip(pairs, keep) if ok]
    return kept, len(pairs) - len(kept)


def epoch_variable() -> tf.Variable:
    """A new epoch index for `make_dataset(..., epoch=...)`: int64, at 0.

    Keep it in step with training by `SetEpoch` (or `training.fit(...,
    epoch_variable=...)`, which adds that callback itself).
    """
    return tf.Variable(0, dtype=tf.int64, trainable=False)


class SetEpoch(keras.callbacks.Callback):
    """Writes the index of each epoch Keras begins into an epoch variable.

    With `make_dataset(..., shuffle=True, epoch=variable)`, epoch `k`'s
    batch order is then a function of `(seed, k)` alone, also when `fit`
    starts at `initial_epoch=k` (a resumed run, or a Hyperband trial that
    goes on training an earlier trial's model).

    Args:
        variable: the `epoch_variable()` given to `make_dataset`.

    Example:

    >>> from keras_bahdanau.data.datasets import SetEpoch, epoch_variable
    >>> epoch = epoch_variable()
    >>> SetEpoch(epoch).on_epoch_begin(3)
    >>> int(epoch.numpy())
    3
    """

    def __init__(self, variable: tf.Variable):
        super().__init__()
        self.variable = variable

    def on_epoch_begin(self, epoch, logs=None):
        self.variable.assign(epoch)


def make_dataset(
    pairs: list,
    source_tokenizer: TextTokenizer,
    target_tokenizer: TextTokenizer,
    max_source_length: int = 40,
    max_target_length: int = 40,
    batch_size: int = 64,
    shuffle: bool = False,
    seed: "int | None" = None,
    epoch: "tf.Variable | None" = None,
    name: str = "pairs",
) -> tf.data.Dataset:
    """Teacher-forcing dataset `((source_ids, decoder_input_ids), target_ids)`.

    Pairs with a side longer than its maximum are dropped (a warning gives
    the count): cut targets would teach the model to stop mid-sentence.
    Strings are tokenized per batch inside `tf.data` (`tokenize_padded` in a
    batched `.map`), and every batch is padded to its own longest row.
    Sources are `t_1 ... t_n [END]`; decoder inputs are
    `[START] y_1 ... y_m` and targets `y_1 ... y_m [END]`, padded with
    `[PAD]` (0), which the model's loss ignores.

    Args:
        pairs: `(source, target)` string pairs.
        source_tokenizer: tokenizer of the sources.
        target_tokenizer: tokenizer of the targets.
        max_source_length: most source sub-words (a positive int).
        max_target_length: most target sub-words (a positive int).
        batch_size: pairs per batch (a positive int).
        shuffle: reshuffle the pairs every epoch.
        seed: shuffle seed.
        epoch: with `shuffle`, an int64 `tf.Variable` holding the epoch
            index (`training.fit(..., epoch_variable=...)` sets it when
            each epoch begins): each epoch's order is then a function of
            `(seed, epoch)` alone, so a run resumed in a new process sees
            the orders an uninterrupted run would, and one resumed from a
            mid-epoch backup goes on from the batch it reached (`fit`
            leaves out the batches before it with `Dataset.skip`). Without
            it the order changes with every pass over the dataset, from
            `seed`.
        name: the caller's name for `pairs` in error messages (e.g.
            `"validation_pairs"`).

    Returns:
        A `tf.data.Dataset` of int32 `((batch, source_len),
        (batch, target_len))`, `(batch, target_len)` elements.

    Raises:
        TypeError: `epoch` that is neither None nor an int64 `tf.Variable`.
        ValueError: if `pairs` is empty, no pair is short enough, or
            `batch_size`, `max_source_length` or `max_target_length` is not
            a positive int.
    """
    batch_size = check_positive_int("batch_size", batch_size, "batch_size=64")
    max_source_length = check_positive_int(
        "max_source_length", max_source_length, "max_source_length=40"
    )
    max_target_length = check_positive_int(
        "max_target_length", max_target_length, "max_target_length=40"
    )
    if epoch is not None and not (
        isinstance(epoch, tf.Variable) and epoch.dtype == tf.int64
    ):
        received = (
            f"a tf.Variable of dtype {epoch.dtype.name}"
            if isinstance(epoch, tf.Variable)
            else f"epoch={epoch!r} of type {type(epoch).__name__}"
        )
        raise TypeError(
            "`epoch` must be None or an int64 tf.Variable holding the epoch "
            f"index. Received: {received}. Pass e.g. epoch=tf.Variable(0, "
            "dtype=tf.int64) and the same variable to "
            "fit(..., epoch_variable=...)."
        )
    if len(pairs) == 0:
        raise ValueError(
            f"`{name}` must hold at least one (source, target) pair. "
            f"Received: {name}={pairs!r} (no pairs). Pass some pairs (e.g. "
            "from kb.load_pairs(path))."
        )
    kept, dropped = filter_pairs(
        pairs,
        source_tokenizer,
        target_tokenizer,
        max_source_length,
        max_target_length,
    )
    if not kept:
        raise ValueError(
            f"`{name}` must hold at least one pair within the length limits. "
            f"Received: {len(pairs)} pair(s), all longer than "
            f"max_source_length={max_source_length} or max_target_length="
            f"{max_target_length} sub-words. Raise the limits."
        )
    if dropped:
        warnings.warn(
            f"Dropped {dropped} of {len(pairs)} pair(s) longer than "
            f"max_source_length={max_source_length} or max_target_length="
            f"{max_target_length} sub-words.",
            stacklevel=2,
        )
    sources = tf.constant([s for s, _ in kept])
    targets = tf.constant([t for _, t in kept])
    if shuffle and epoch is not None:
        dataset = _epoch_ordered(sources, targets, seed or 0, epoch)
    else:
        dataset = tf.data.Dataset.from_tensor_slices((sources, targets))
        if shuffle:
            dataset = dataset.shuffle(
                len(kept), seed=seed, reshuffle_each_iteration=True
            )

    def encode(source, target):
        source_ids = source_tokenizer.tokenize_padded(
            source, max_length=max_source_length + 1, add_start=False
        )
        target_ids = target_tokenizer.tokenize_padded(
            target, max_length=max_target_length + 2
        )
        # Fixed-length padding, then cut to the longest row of the batch.
        source_len = tf.reduce_max(
            tf.reduce_sum(tf.cast(source_ids != 0, tf.int32), axis=1)
        )
        target_len = tf.reduce_max(
            tf.reduce_sum(tf.cast(target_ids != 0, tf.int32), axis=1)
        )
        source_ids = source_ids[:, :source_len]
        target_ids = target_ids[:, :target_len]
        return (source_ids, target_ids[:, :-1]), target_ids[:, 1:]

    dataset = dataset.batch(batch_size).map(
        encode, num_parallel_calls=tf.data.AUTOTUNE
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def _epoch_ordered(sources, targets, seed: int, epoch: tf.Variable):
    """`(source, target)` pairs in an order drawn from `(seed, epoch)`.

    The permutation is drawn when an iterator starts (Keras starts one per
    epoch, after the callbacks' `on_epoch_begin`), from the value `epoch`
    holds then.
    """
    count = int(sources.shape[0])

    def permutation(_):
        key = tf.stack([tf.constant(seed, tf.int64), epoch.read_value()])
        noise = tf.random.stateless_uniform([count], seed=key)
        return tf.data.Dataset.from_tensor_slices(tf.argsort(noise))

    order = tf.data.Dataset.from_tensors(0).flat_map(permutation)
    pairs = order.map(lambda i: (tf.gather(sources, i), tf.gather(targets, i)))
    # flat_map hides the length; progress bars need it.
    return pairs.apply(tf.data.experimental.assert_cardinality(count))
