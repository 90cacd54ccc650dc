"""Translation quality on the full English-Hindi Tatoeba file (slow).

Uses `../shared/data/hin-eng.tsv` relative to the repository (skipped when
absent): the `small` preset, with and without attention, trained on 80%,
stopped early on 10% and scored on the held-out 10%. The scores are
printed for the README; the assertions only check that training learned
something.
"""

import os

import keras
import pytest

import keras_bahdanau as kb
from keras_bahdanau.cli import DEMO_VOCAB_SIZE

DATA = os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "data", "hin-eng.tsv"
)
EPOCHS = 30


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isfile(DATA), reason="hin-eng.tsv absent")
@pytest.mark.parametrize("attention", ["bahdanau", None])
def test_small_preset_held_out_scores(attention, tmp_path):
    keras.utils.set_random_seed(0)
    pairs = kb.load_pairs(DATA)
    train, validation, test = kb.split_pairs(
        pairs, validation_split=0.1, test_split=0.1, seed=0
    )
    translator = kb.Translator.from_pairs(
        train, source_lang="en", target_lang="hi", preset="small",
        validation_split=0.0, seed=0, attention=attention,
        source_vocab_size=DEMO_VOCAB_SIZE, target_vocab_size=DEMO_VOCAB_SIZE,
    )
    translator.fit(
        validation_pairs=validation, epochs=EPOCHS, batch_size=32, verbose=2
    )
    scores = translator.evaluate(test)
    print(f"\nattention={attention}: {scores}")
    assert scores["n"] == len(test)
    assert scores["chrf"] > 10.0
