"""A Python-loop attention seq2seq in the style of the TensorFlow tutorial.

The baseline of `train_step.py`: the decoder is called once per target
position from a Python loop (unrolled inside the caller's `tf.function`),
the attention projects the encoder outputs again at every step, and the
vocabulary projection runs inside the loop, as in the TensorFlow "Neural
machine translation with attention" tutorial. Same sizes as our model.
"""

import keras
from keras import ops


class TutorialAttention(keras.layers.Layer):
    """score = V(tanh(W1 q + W2 values)); keys recomputed every call."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.W1 = keras.layers.Dense(units)
        self.W2 = keras.layers.Dense(units)
        self.V = keras.layers.Dense(1)

    def call(self, query, values):
        score = self.V(ops.tanh(self.W1(query[:, None, :]) + self.W2(values)))
        weights = ops.softmax(score, axis=1)
        return ops.sum(weights * values, axis=1)


class TutorialSeq2Seq(keras.Model):
    """Bi-GRU encoder + per-step attentive GRU decoder in a Python loop."""

    def __init__(
        self,
        vocab,
        embedding_dim,
        encoder_units,
        decoder_units,
        attention_units,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.source_embedding = keras.layers.Embedding(vocab, embedding_dim)
        self.encoder = keras.layers.Bidirectional(
            keras.layers.GRU(encoder_units, return_sequences=True)
        )
        self.bridge = keras.layers.Dense(decoder_units, activation="tanh")
        self.target_embedding = keras.layers.Embedding(vocab, embedding_dim)
        self.attention = TutorialAttention(attention_units)
        self.cell = keras.layers.GRUCell(decoder_units)
        self.fc = keras.layers.Dense(vocab)
        self.encoder_units = encoder_units

    def call(self, inputs, training=None):
        source, decoder_input = inputs
        memory = self.encoder(self.source_embedding(source))
        state = self.bridge(memory[:, 0, self.encoder_units :])
        embedded = self.target_embedding(decoder_input)
        outputs = []
        for t in range(decoder_input.shape[1]):
            context = self.attention(state, memory)
            x = ops.concatenate([embedded[:, t], context], axis=-1)
            state, _ = self.cell(x, [state])
            outputs.append(self.fc(state))
        return ops.stack(outputs, axis=1)
