"""Corpus BLEU and chrF through sacrebleu."""

import re

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
        hypotheses: system translations.
        references: reference translations, aligned with `hypotheses`.
        tokenize: sacrebleu BLEU tokenizer name, or `None` for automatic.

    Returns:
        `{"bleu": float, "chrf": float, "n": int}`, scores rounded to 2
        decimals.

    Raises:
        ValueError: if the lists differ in length or are empty.

    Example:

    >>> from keras_bahdanau.metrics import corpus_scores
    >>> corpus_scores(["the cat sat"], ["the cat sat"])["chrf"]
    100.0
    """
    import sacrebleu

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
