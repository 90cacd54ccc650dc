"""build_model(): presets plus overrides -> AttentionSeq2Seq."""

import copy
import inspect

from keras_bahdanau.models.presets import PRESETS
from keras_bahdanau.models.seq2seq import AttentionSeq2Seq


def build_model(
    source_vocab_size: int,
    target_vocab_size: int,
    preset: "str | None" = None,
    **overrides,
) -> AttentionSeq2Seq:
    """Builds an `AttentionSeq2Seq` from a named preset and overrides.

    Args:
        source_vocab_size: number of source token ids.
        target_vocab_size: number of target token ids.
        preset: `"tiny"`, `"small"`, `"paper"` or None (the
            `AttentionSeq2Seq` defaults, which are the benchmark sizes).
        **overrides: any `AttentionSeq2Seq` argument (`embedding_dim`,
            `encoder_units`, `decoder_units`, `attention_units`, `cell`,
            `attention`, `normalize`, `dropout`, `pad_id`, `start_id`,
            `end_id`, ...); they win over the preset.

    Returns:
        An uncompiled, unbuilt model; `model.compile()` with no arguments
        sets the masked loss, masked accuracy and Adam.

    Raises:
        ValueError: unknown preset (the message lists the presets).
        TypeError: an override that `AttentionSeq2Seq` does not take.

    Example:

    >>> import keras_bahdanau as kb
    >>> model = kb.build_model(100, 120, preset="tiny", cell="lstm")
    >>> model.decoder_units, model.cell
    (64, 'lstm')
    """
    if preset is not None and preset not in PRESETS:
        raise ValueError(
            f"`preset` must be one of {sorted(PRESETS)} or None. "
            f"Received: preset={preset!r}. Pick one of those."
        )
    allowed = set(inspect.signature(AttentionSeq2Seq).parameters)
    allowed |= {"name", "dtype", "trainable"}
    allowed -= {"source_vocab_size", "target_vocab_size", "kwargs"}
    unknown = sorted(set(overrides) - allowed)
    if unknown:
        raise TypeError(
            "`overrides` must be `AttentionSeq2Seq` arguments. "
            f"Received unknown: {unknown}. Use some of {sorted(allowed)}."
        )
    config = copy.deepcopy(PRESETS[preset]) if preset else {}
    config.update(overrides)
    return AttentionSeq2Seq(source_vocab_size, target_vocab_size, **config)
