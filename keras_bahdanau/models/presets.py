"""Named model configurations: plain dicts of `AttentionSeq2Seq` arguments.

- `tiny`: unit tests and smoke runs (seconds on a CPU).
- `small`: the CPU-friendly default of the translator and demo.
- `paper`: RNNsearch of Bahdanau et al. (2015), section 4.2: embedding
  620, 1000 hidden units per encoder direction, 1000 decoder units, 1000
  attention units and a maxout output layer of 500. Documented, not trained
  in the tests.
"""

PRESETS = {
    "tiny": {
        "embedding_dim": 32,
        "encoder_units": 32,
        "decoder_units": 64,
        "attention_units": 32,
        "maxout_units": None,
    },
    "small": {
        "embedding_dim": 128,
        "encoder_units": 128,
        "decoder_units": 256,
        "attention_units": 128,
        "maxout_units": None,
        # Small corpora overfit fast: 0.3 beat 0.1 on held-out Tatoeba data.
        "dropout": 0.3,
    },
    "paper": {
        "embedding_dim": 620,
        "encoder_units": 1000,
        "decoder_units": 1000,
        "attention_units": 1000,
        "maxout_units": 500,
    },
}
