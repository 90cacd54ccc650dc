"""Corpus BLEU and chrF through sacrebleu."""

import re

import numpy as np

from keras_bahdanau.layers.validation import check_choice

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def bleu_tokenizer(references: list[str]) -> str:
    """Picks the sacrebleu BLEU tokenizer for the target language.

    `"zh"` when any reference holds a CJK character (one token per Han
    character, 13a for the rest: Kana runs and Hangul words stay whole, so
    Japanese and Korean BLEU counts those as words; pass
    `tokenize="ja-mecab"` or `"ko-mecab"` to `corpus_scores` for a
    morphological split, which needs sacrebleu's extras), else `"intl"`
    (13a plus splitting of all Unicode punctuation and symbols, so e.g. the
    Devanagari danda `।` is a token of its own).

    Args:
        references: reference translations.

    Returns:
        A sacrebleu tokenizer name.
    """
    if any(_CJK.search(text) for text in references):
        return "zh"
    return "intl"


def corpus_scores(
    hypotheses: list[str],
    references: list[str],
    tokenize: "str | None" = None,
) -> dict:
    """Corpus BLEU and chrF of hypotheses against one reference each.

    BLEU is sacrebleu's `corpus_bleu` (Papineni et al., 2002) with the
    tokenizer from `bleu_tokenizer` unless given; chrF is `corpus_chrf`
    (Popović, 2015, character 6-grams, beta 2). Both are on a 0-100 scale.

    Args:
        hypotheses: system translations: a list (or tuple, or 1-D NumPy
            array) of str, one sentence per item.
        references: reference translations, aligned with `hypotheses`
            (the same kinds of sequence).
        tokenize: sacrebleu BLEU tokenizer name (one of
            `sacrebleu.metrics.BLEU.TOKENIZERS`: `"13a"`, `"intl"`, `"zh"`,
            `"char"`, `"none"`, ...), or `None` for automatic.

    Returns:
        `{"bleu": float, "chrf": float, "n": int}`, scores rounded to 2
        decimals.

    Raises:
        TypeError: if `hypotheses` or `references` is a single str (which
            would be scored character by character) or not a sequence of
            str.
        ValueError: if the lists differ in length or are empty, or
            `tokenize` names no sacrebleu BLEU tokenizer.

    Example:

    >>> from keras_bahdanau.metrics import corpus_scores
    >>> corpus_scores(["the cat sat"], ["the cat sat"])["chrf"]
    100.0
    """
    import sacrebleu

    hypotheses = _sentences("hypotheses", hypotheses)
    references = _sentences("references", references)
    check_choice(
        "tokenize", tokenize, [None, *sacrebleu.metrics.BLEU.TOKENIZERS]
    )
    if len(hypotheses) != len(references):
        raise ValueError(
            "`hypotheses` and `references` must have the same length. "
            f"Received: {len(hypotheses)} and {len(references)}. Pass one "
            "reference per hypothesis."
        )
    if not references:
        raise ValueError(
            "`references` must not be empty. Received: 0 sentences. Pass "
            "at least one pair."
        )
    if tokenize is None:
        tokenize = bleu_tokenizer(references)
    bleu = sacrebleu.corpus_bleu(hypotheses, [references], tokenize=tokenize)
    chrf = sacrebleu.corpus_chrf(hypotheses, [references])
    return {
        "bleu": round(float(bleu.score), 2),
        "chrf": round(float(chrf.score), 2),
        "n": len(references),
    }


def _sentences(name: str, value) -> list:
    """`value` as a list of str, or `TypeError` naming `name`."""
    if isinstance(value, (str, bytes)):
        raise TypeError(
            f"`{name}` must be a list of str, one sentence per item. "
            f"Received: {name}={value!r} (a single {type(value).__name__}, "
            "which would be scored character by character). Wrap it in a "
            f"list: {name}=[{value!r}]."
        )
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise TypeError(
            f"`{name}` must be a list of str, one sentence per item. "
            f"Received: {name} of type {type(value).__name__}. Pass e.g. "
            f"{name}=['the cat sat']."
        )
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise TypeError(
                f"`{name}` must hold str sentences. Received: "
                f"{name}[{index}]={item!r} of type {type(item).__name__}. "
                "Decode bytes and drop None."
            )
    return list(value)
