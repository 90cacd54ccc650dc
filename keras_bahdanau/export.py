"""TensorFlow SavedModel export of a `Translator`: strings in, strings out."""

import os

import keras
import tensorflow as tf

from keras_bahdanau import decoding
from keras_bahdanau.compilation import unfused
from keras_bahdanau.data.pairs import check_not_a_file
from keras_bahdanau.data.pairs import check_path


def export_saved_model(translator, path: str) -> str:
    """Writes `translator` as a SavedModel with a strings-to-strings endpoint.

    The endpoint (`serve`, also the `serving_default` signature) takes a
    `tf.string` vector, tokenizes it with the source `TextTokenizer` (cut
    to `max_source_length` sub-words), decodes greedily up to
    `max_target_length + 1` tokens with the model's `keras.ops` search
    traced into the graph, and detokenizes with the target tokenizer.
    Inputs without a sub-word (empty, or whitespace of any script) give
    `""`, as in `Translator.translate`. The tokenizers' lookup
    tables are tracked, so the SavedModel needs TensorFlow and
    `tensorflow_text` (imported before loading, for its ops), not this
    package.

    Args:
        translator: a `Translator`.
        path: output directory.

    Returns:
        `path`.

    Raises:
        TypeError: `path` is not a str or `os.PathLike`.
        FileExistsError: `path` is an existing file.
        RuntimeError: the Keras backend is not TensorFlow.

    Example:

    ```python
    import tensorflow as tf
    import tensorflow_text  # registers the tokenizer ops

    reloaded = tf.saved_model.load(path)
    reloaded.serve(tf.constant(["Hello."]))  # {"translations": ...}
    reloaded.signatures["serving_default"](texts=tf.constant(["Hello."]))
    ```
    """
    path = check_path("path", path, "exported_translator")
    check_not_a_file(
        "path", path, "a directory (new or existing) for the SavedModel"
    )
    if keras.config.backend() != "tensorflow":
        raise RuntimeError(
            "`export` needs the TensorFlow backend. Received: backend="
            f"{keras.config.backend()!r}. Set KERAS_BACKEND=tensorflow, or "
            "save with Translator.save and export from a TensorFlow process."
        )
    model = translator.model
    source_tokenizer = translator.source_tokenizer
    target_tokenizer = translator.target_tokenizer
    source_width = translator.max_source_length + 1
    max_length = translator.max_target_length + 1
    search = decoding.get("greedy")

    def serve(texts):
        source_ids = source_tokenizer.tokenize_padded(
            texts, max_length=source_width, add_start=False
        )
        outputs = search(model, source_ids, max_length)
        strings = target_tokenizer.detokenize(outputs["tokens"])
        # No sub-word (empty, or whitespace of any script): "", as in
        # `Translator.translate`.
        empty = tf.equal(source_tokenizer.tokenize(texts).row_lengths(), 0)
        return {"translations": tf.where(empty, "", strings)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(source_tokenizer)
    archive.track(target_tokenizer)
    # No XLA clusters in the SavedModel: TensorFlow Serving's XLA CPU JIT
    # is off by default.
    with unfused():
        archive.add_endpoint(
            "serve",
            serve,
            input_signature=[tf.TensorSpec([None], tf.string, name="texts")],
        )
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        archive.write_out(path, verbose=False)
    return path
