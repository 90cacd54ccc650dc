"""TensorFlow Addons seq2seq baseline for the Bahdanau-attention benchmark.

Runs inside the isolated venv made by ``benchmarks/make_tfa_env.sh``
(TensorFlow 2.15 with its bundled Keras 2 as ``tf.keras`` and
tensorflow-addons 0.23), never in the system environment that holds
keras_bahdanau's Keras 3.

Model (random weights, timing only):

* source / target embeddings: vocabulary 8000, width 256;
* encoder: bidirectional GRU, 256 units per direction, memory width 512;
* attention: ``tfa.seq2seq.BahdanauAttention(units=512)`` over the memory;
* decoder cell: ``tfa.seq2seq.AttentionWrapper(GRUCell(512), attention,
  attention_layer_size=None, output_attention=False,
  alignment_history=False)``: the cell input is ``[embedding; context]`` and
  the wrapper's output is the GRU state;
* initial decoder state: the wrapper's zero state with
  ``cell_state = tanh(Dense(512)(backward final encoder state))``;
* vocabulary projection ``Dense(8000)``.

Tasks:

* ``train``: teacher forcing with ``TrainingSampler`` + ``BasicDecoder``;
  the projection is applied to the decoder outputs after decoding;
  sparse categorical cross-entropy from logits; Adam. One timed step is a
  ``tf.function`` doing forward, loss, gradient and the optimizer update.
* ``greedy``: ``GreedyEmbeddingSampler`` + ``BasicDecoder`` with the
  projection as ``output_layer`` and ``maximum_iterations=20``.
* ``beam5``: ``BeamSearchDecoder(beam_width=5, length_penalty_weight=0.0)``
  over memory tiled with ``tfa.seq2seq.tile_batch``,
  ``maximum_iterations=20``.

No early stop while decoding: the end token is a real vocabulary id
(``END_ID``) whose projection bias is set to ``-1e9``, so its logit can never
win an argmax or enter a beam. Every decode call therefore runs exactly
``--decode-steps`` (default 20) steps; this is asserted on the output shape
after the warm-up calls.

Output: one JSON line per measurement on stdout (see benchmarks/README.md);
logs go to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import sys
import time
import warnings
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The gather_tree custom kernel shipped with tensorflow-addons 0.23 is built
# against the CUDA-enabled TensorFlow wheel and fails to load with
# tensorflow-cpu (undefined __cudaUnregisterFatBinary); tfa then falls back to
# its pure-TensorFlow implementation with a long warning. Select that
# implementation up front (it only runs once per beam-search call).
os.environ.setdefault("TF_ADDONS_PY_OPS", "1")
warnings.filterwarnings("ignore", message=r"(?s).*TensorFlow Addons")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_addons as tfa  # noqa: E402

LOG = logging.getLogger("tfa_baseline")

VOCAB = 8000
EMBED = 256
ENC_UNITS = 256  # per direction; memory width is 2 * ENC_UNITS
DEC_UNITS = 512
ATT_UNITS = 512
BEAM_WIDTH = 5
START_ID = 1
END_ID = 2
BLOCKED_BIAS = -1e9


class TfaSeq2Seq(tf.keras.Model):
    """Container that owns every layer so ``trainable_variables`` is complete.

    The decoding graphs are built by the module-level functions; this class
    only creates and tracks the layers.
    """

    def __init__(self) -> None:
        """Create all layers."""
        super().__init__()
        self.src_embedding = tf.keras.layers.Embedding(VOCAB, EMBED)
        self.tgt_embedding = tf.keras.layers.Embedding(VOCAB, EMBED)
        self.encoder = tf.keras.layers.Bidirectional(
            tf.keras.layers.GRU(
                ENC_UNITS, return_sequences=True, return_state=True
            ),
            merge_mode="concat",
        )
        self.bridge = tf.keras.layers.Dense(DEC_UNITS, activation="tanh")
        # Memory is attached later with setup_memory() inside each traced
        # function, so one mechanism serves every call.
        self.attention = tfa.seq2seq.BahdanauAttention(
            units=ATT_UNITS, memory=None
        )
        self.cell = tfa.seq2seq.AttentionWrapper(
            tf.keras.layers.GRUCell(DEC_UNITS),
            self.attention,
            attention_layer_size=None,
            alignment_history=False,
            output_attention=False,
        )
        self.projection = tf.keras.layers.Dense(VOCAB)

    def encode(
        self, source: tf.Tensor, training: bool
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Run the encoder.

        Args:
          source: int32 ``[batch, src_len]`` token ids.
          training: Keras training flag.

        Returns:
          ``(memory [batch, src_len, 512], cell_state0 [batch, 512])``.
        """
        emb = self.src_embedding(source)
        memory, _fw_state, bw_state = self.encoder(emb, training=training)
        cell_state0 = self.bridge(bw_state)
        return memory, cell_state0

    def initial_state(
        self, cell_state0: tf.Tensor, rows: int
    ) -> tfa.seq2seq.AttentionWrapperState:
        """Zero ``AttentionWrapperState`` with the bridged GRU state cloned in.

        Args:
          cell_state0: float32 ``[rows, 512]`` initial GRU state.
          rows: number of decoder rows (batch, or batch * beam width).

        Returns:
          The initial ``AttentionWrapperState``.
        """
        zero = self.cell.get_initial_state(batch_size=rows, dtype=tf.float32)
        return zero.clone(cell_state=cell_state0)

    def block_end_token(self) -> None:
        """Make ``END_ID`` unreachable: its output bias becomes -1e9."""
        bias = self.projection.bias.numpy()
        bias[END_ID] = BLOCKED_BIAS
        self.projection.bias.assign(bias)


def make_train_step(
    model: TfaSeq2Seq, optimizer: tf.keras.optimizers.Optimizer
) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]:
    """Build the training step (forward + loss + gradient + Adam update).

    Args:
      model: the layer container.
      optimizer: Adam optimizer.

    Returns:
      A function ``step(source, target_in, target_out) -> loss``; call it
      once eagerly through :func:`train_forward` first so that variables
      exist, then wrap it in ``tf.function``.
    """
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def step(
        source: tf.Tensor, target_in: tf.Tensor, target_out: tf.Tensor
    ) -> tf.Tensor:
        with tf.GradientTape() as tape:
            logits = train_forward(model, source, target_in)
            loss = loss_fn(target_out, logits)
        variables = model.trainable_variables
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return loss

    return step


def train_forward(
    model: TfaSeq2Seq, source: tf.Tensor, target_in: tf.Tensor
) -> tf.Tensor:
    """Teacher-forced forward pass.

    Args:
      model: the layer container.
      source: int32 ``[batch, src_len]``.
      target_in: int32 ``[batch, tgt_len]`` decoder inputs.

    Returns:
      float32 logits ``[batch, tgt_len, VOCAB]``.
    """
    memory, cell_state0 = model.encode(source, training=True)
    model.attention.setup_memory(memory)
    batch = tf.shape(target_in)[0]
    tgt_len = tf.shape(target_in)[1]
    decoder = tfa.seq2seq.BasicDecoder(
        model.cell, tfa.seq2seq.TrainingSampler(), output_layer=None
    )
    outputs, _state, _lengths = decoder(
        model.tgt_embedding(target_in),
        initial_state=model.initial_state(cell_state0, source.shape[0]),
        sequence_length=tf.fill([batch], tgt_len),
        training=True,
    )
    return model.projection(outputs.rnn_output)


def greedy_decode(
    model: TfaSeq2Seq, source: tf.Tensor, steps: int
) -> tf.Tensor:
    """Greedy decoding for exactly ``steps`` steps.

    Args:
      model: the layer container (``END_ID`` blocked).
      source: int32 ``[batch, src_len]``.
      steps: number of output steps (``maximum_iterations``).

    Returns:
      int32 ``[batch, steps]`` predicted ids.
    """
    memory, cell_state0 = model.encode(source, training=False)
    model.attention.setup_memory(memory)
    batch = source.shape[0]
    decoder = tfa.seq2seq.BasicDecoder(
        model.cell,
        tfa.seq2seq.GreedyEmbeddingSampler(embedding_fn=model.tgt_embedding),
        output_layer=model.projection,
        impute_finished=False,
        maximum_iterations=steps,
    )
    outputs, _state, _lengths = decoder(
        None,
        start_tokens=tf.fill([batch], START_ID),
        end_token=END_ID,
        initial_state=model.initial_state(cell_state0, batch),
        training=False,
    )
    return outputs.sample_id


def beam_decode(model: TfaSeq2Seq, source: tf.Tensor, steps: int) -> tf.Tensor:
    """Beam search (width ``BEAM_WIDTH``) for exactly ``steps`` steps.

    Args:
      model: the layer container (``END_ID`` blocked).
      source: int32 ``[batch, src_len]``.
      steps: number of output steps (``maximum_iterations``).

    Returns:
      int32 ``[batch, steps, BEAM_WIDTH]`` predicted ids.
    """
    memory, cell_state0 = model.encode(source, training=False)
    model.attention.setup_memory(
        tfa.seq2seq.tile_batch(memory, multiplier=BEAM_WIDTH)
    )
    batch = source.shape[0]
    state0 = model.initial_state(
        tfa.seq2seq.tile_batch(cell_state0, multiplier=BEAM_WIDTH),
        batch * BEAM_WIDTH,
    )
    decoder = tfa.seq2seq.BeamSearchDecoder(
        model.cell,
        beam_width=BEAM_WIDTH,
        embedding_fn=model.tgt_embedding,
        output_layer=model.projection,
        length_penalty_weight=0.0,
        maximum_iterations=steps,
    )
    outputs, _state, _lengths = decoder(
        None,
        start_tokens=tf.fill([batch], START_ID),
        end_token=END_ID,
        initial_state=state0,
        training=False,
    )
    return outputs.predicted_ids


def time_calls(
    fn: Callable[[], tf.Tensor], steps: int, warmup: int
) -> tuple[list[float], tf.Tensor]:
    """Time ``fn`` ``steps`` times after ``warmup`` untimed calls.

    The result is fetched to host memory (``.numpy()``) inside each timed
    region so that the measured time covers the whole computation.

    Returns:
      ``(per-call seconds, last result)``.
    """
    result = None
    for i in range(warmup):
        t0 = time.perf_counter()
        result = fn().numpy()
        LOG.info("warmup %d: %.3f s", i, time.perf_counter() - t0)
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        result = fn().numpy()
        dt = time.perf_counter() - t0
        times.append(dt)
        LOG.info("step %d: %.4f s", i, dt)
    return times, result


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux ru_maxrss)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(args: argparse.Namespace) -> dict:
    """Build the model for ``args.task``, time it and return the record."""
    tf.random.set_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    batch, length = args.batch, args.length
    source = tf.constant(
        rng.integers(3, VOCAB, size=(batch, length)), dtype=tf.int32
    )
    model = TfaSeq2Seq()

    if args.task == "train":
        target_in = tf.constant(
            rng.integers(3, VOCAB, size=(batch, length)), dtype=tf.int32
        )
        target_out = tf.constant(
            rng.integers(3, VOCAB, size=(batch, length)), dtype=tf.int32
        )
        # Eager forward pass creates every variable before tracing.
        train_forward(model, source, target_in)
        if args.optimizer == "legacy_adam":
            # Creates its slots on the first (untimed) call.
            optimizer = tf.keras.optimizers.legacy.Adam(learning_rate=1e-4)
        else:
            optimizer = tf.keras.optimizers.Adam(learning_rate=1e-4)
            optimizer.build(model.trainable_variables)
        LOG.info(
            "trainable variables: %d (%d parameters)",
            len(model.trainable_variables),
            sum(int(np.prod(v.shape)) for v in model.trainable_variables),
        )
        step = tf.function(make_train_step(model, optimizer))
        times, _ = time_calls(
            lambda: step(source, target_in, target_out),
            args.steps,
            args.warmup,
        )
        median = statistics.median(times)
        value = batch * length / median
        unit = "target_tokens/s"
    else:
        decode = greedy_decode if args.task == "greedy" else beam_decode
        decode(model, source, args.decode_steps)  # eager build
        model.block_end_token()
        fn = tf.function(lambda src: decode(model, src, args.decode_steps))
        times, result = time_calls(lambda: fn(source), args.steps, args.warmup)
        if result.shape[1] != args.decode_steps:
            raise RuntimeError(
                f"decoding stopped early: output shape {result.shape}, "
                f"expected {args.decode_steps} steps"
            )
        if np.any(result == END_ID):
            raise RuntimeError("end token was produced despite its bias")
        LOG.info("decode output shape %s", tuple(result.shape))
        median = statistics.median(times)
        value = batch / median
        unit = "sentences/s"

    return {
        "impl": "tfa",
        "task": args.task,
        "length": length,
        "batch": batch,
        "value": value,
        "unit": unit,
        "median_s": median,
        "steps": args.steps,
        "peak_rss_mb": peak_rss_mb(),
        "dtype": "float32",
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--task", choices=("train", "greedy", "beam5"), required=True
    )
    parser.add_argument(
        "--length",
        type=int,
        default=20,
        help="source length (and target length for train)",
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="timed calls")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--decode-steps",
        type=int,
        default=20,
        help="output steps for greedy/beam5 (maximum_iterations)",
    )
    parser.add_argument(
        "--dtype",
        choices=("float32",),
        default="float32",
        help="only float32 is supported by the baseline",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--optimizer",
        choices=("adam", "legacy_adam"),
        default="adam",
        help="train: tf.keras.optimizers.Adam (Keras 2.15's default: "
        "element-wise ops, no XLA on CPU) or tf.keras.optimizers.legacy."
        "Adam (the fused ResourceApplyAdam kernel)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: print one JSON record on stdout."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s tfa_baseline %(message)s",
    )
    args = parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        raise SystemExit("--steps must be >= 1 and --warmup >= 0")
    LOG.info(
        "tensorflow %s, tensorflow-addons %s, task=%s length=%d batch=%d",
        tf.__version__,
        tfa.__version__,
        args.task,
        args.length,
        args.batch,
    )
    record = run(args)
    print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
