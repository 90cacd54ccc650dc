"""TranslatorHyperModel: `build(hp)` calls the model factory, `fit` trains."""

import math

import keras
import keras_tuner
import numpy as np

from keras_bahdanau.data.datasets import SetEpoch
from keras_bahdanau.data.datasets import epoch_variable
from keras_bahdanau.data.datasets import make_dataset
from keras_bahdanau.layers.validation import check_seed
from keras_bahdanau.layers.validation import check_type
from keras_bahdanau.models import build_model
from keras_bahdanau.optimizers import Adam
from keras_bahdanau.text import TextTokenizer
from keras_bahdanau.translator import Translator
from keras_bahdanau.tuning.space import declare
from keras_bahdanau.tuning.space import resolve_space

OBJECTIVES = ("val_loss", "val_chrf")


class _DivergenceGuard(keras.callbacks.Callback):
    """Stops training at the first NaN or infinite loss and remembers it."""

    def __init__(self):
        super().__init__()
        self.failure = None

    def _check(self, logs, where: str) -> None:
        for key in ("loss", "val_loss"):
            value = (logs or {}).get(key)
            if value is None or self.failure is not None:
                continue
            value = float(np.asarray(value))
            if not math.isfinite(value):
                self.failure = f"{key}={value} at {where}"
                self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        self._check(logs, f"batch {batch}")

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs, f"the end of epoch {epoch + 1}")


class TranslatorHyperModel(keras_tuner.HyperModel):
    """A Keras Tuner hypermodel of `AttentionSeq2Seq` translators.

    `build(hp)` samples the model sizes, the cell, dropout, weight
    normalisation of the attention and the Adam learning rate from a search
    space (see `resolve_space`), calls `build_model(..., preset=preset,
    **sizes)` and compiles it with the padding-masked loss and token
    accuracy. `fit(hp, model, ...)` trains it on the prepared pairs and
    returns a dict of metrics holding `val_loss` (best epoch) and, for the
    `"val_chrf"` objective, `val_chrf` and `val_bleu` of greedy translations
    of a validation sample after training. A trial whose loss becomes NaN
    or infinite raises `keras_tuner.errors.FailedTrialError`, so a search
    goes on with the next trial.

    Args:
        source_tokenizer: `TextTokenizer` of the sources.
        target_tokenizer: `TextTokenizer` of the targets.
        train_pairs: `(source, target)` string pairs to train on.
        validation_pairs: held-out pairs for `val_loss` and `val_chrf`.
        preset: `"tiny"` or `"small"`: the `build_model` preset (for the
            settings that are not searched) and the default search space.
        space: search space entries replacing the preset's defaults (see
            `resolve_space`).
        objective: `"val_loss"` or `"val_chrf"`.
        batch_size: pairs per batch.
        max_source_length: most source sub-words (longer pairs dropped).
        max_target_length: most target sub-words.
        chrf_samples: validation pairs translated for `val_chrf`.
        seed: seed of every trial's initial weights, dropout and data
            order: each trial starts from it, so its result does not
            depend on the trials run before it in the process, nor on a
            resumed search. `build` sets it as the global seed of Python,
            NumPy, TensorFlow and Keras (`keras.utils.set_random_seed`).
            `None`: trials draw from the global state as it is.
        name: optional name of the hypermodel.

    Raises:
        TypeError: a tokenizer, `space` or `seed` of the wrong type.
        ValueError: no training or validation pairs (within the length
            limits), unknown objective or preset, invalid space or setting,
            a seed outside `[0, 2**32)`.

    Example:

    >>> import keras_tuner
    >>> import keras_bahdanau as kb
    >>> translator = kb.Translator.from_pairs(
    ...     kb.reversal_text_pairs(40), preset="tiny")
    >>> hypermodel = kb.TranslatorHyperModel.from_translator(
    ...     translator, preset="tiny", space={"encoder_units": [8, 16]})
    >>> hp = keras_tuner.HyperParameters()
    >>> hp.Fixed("encoder_units", 16)
    16
    >>> hypermodel.build(hp).encoder_units
    16
    """

    def __init__(
        self,
        source_tokenizer: TextTokenizer,
        target_tokenizer: TextTokenizer,
        train_pairs: list,
        validation_pairs: list,
        preset: str = "small",
        space: "dict | None" = None,
        objective: str = "val_loss",
        batch_size: int = 64,
        max_source_length: int = 40,
        max_target_length: int = 40,
        chrf_samples: int = 200,
        seed: int = 0,
        name: "str | None" = None,
    ):
        super().__init__(name=name, tunable=True)
        for arg, tokenizer in (
            ("source_tokenizer", source_tokenizer),
            ("target_tokenizer", target_tokenizer),
        ):
            check_type(
                arg,
                tokenizer,
                TextTokenizer,
                "Use TextTokenizer.learn() or "
                "TranslatorHyperModel.from_translator().",
            )
        if objective not in OBJECTIVES:
            raise ValueError(
                f"`objective` must be one of {list(OBJECTIVES)}. Received: "
                f"objective={objective!r}. Pick one of those."
            )
        if not train_pairs:
            raise ValueError(
                "`train_pairs` must hold at least one pair. Received: none. "
                "Pass the training pairs (e.g. translator.train_pairs)."
            )
        if not validation_pairs:
            raise ValueError(
                "`validation_pairs` must hold at least one pair: the "
                f"objective {objective!r} is measured on them. Received: "
                "none. Hold out pairs (validation_split > 0)."
            )
        for arg, value in (
            ("batch_size", batch_size),
            ("max_source_length", max_source_length),
            ("max_target_length", max_target_length),
            ("chrf_samples", chrf_samples),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or (
                value < 1
            ):
                raise ValueError(
                    f"`{arg}` must be a positive int. Received: "
                    f"{arg}={value!r}. Use e.g. {arg}=64."
                )
        self.space = resolve_space(preset, space)
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.train_pairs = list(train_pairs)
        self.validation_pairs = list(validation_pairs)
        self.preset = preset
        self.objective = objective
        self.batch_size = batch_size
        self.max_source_length = max_source_length
        self.max_target_length = max_target_length
        self.chrf_samples = chrf_samples
        # Every trial is reseeded from it.
        self.seed = check_seed(seed, generator=False)
        # Pairs all beyond the length limits fail here, not in a trial.
        self.datasets()

    @classmethod
    def from_translator(
        cls,
        translator: Translator,
        preset: str = "small",
        space: "dict | None" = None,
        objective: str = "val_loss",
        batch_size: int = 64,
        chrf_samples: int = 200,
    ) -> "TranslatorHyperModel":
        """A hypermodel on the tokenizers and pairs of a prepared translator.

        Args:
            translator: a `Translator` from `Translator.from_pairs` (its
                tokenizers, `train_pairs`, `validation_pairs`, length
                limits and seed are used; its model is not).
            preset: see `TranslatorHyperModel`.
            space: see `TranslatorHyperModel`.
            objective: see `TranslatorHyperModel`.
            batch_size: see `TranslatorHyperModel`.
            chrf_samples: see `TranslatorHyperModel`.

        Returns:
            A `TranslatorHyperModel`.

        Raises:
            TypeError, ValueError: as the constructor.
        """
        if not isinstance(translator, Translator):
            raise TypeError(
                "`translator` must be a Translator. Received: "
                f"{type(translator).__name__}. Use Translator.from_pairs()."
            )
        return cls(
            translator.source_tokenizer,
            translator.target_tokenizer,
            translator.train_pairs,
            translator.validation_pairs,
            preset=preset,
            space=space,
            objective=objective,
            batch_size=batch_size,
            max_source_length=translator.max_source_length,
            max_target_length=translator.max_target_length,
            chrf_samples=chrf_samples,
            seed=translator.seed,
        )

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """Builds and compiles one model of the search space.

        Args:
            hp: the trial's `keras_tuner.HyperParameters`.

        Returns:
            A built `AttentionSeq2Seq` compiled with
            `keras_bahdanau.optimizers.Adam(learning_rate)` and the masked
            loss and accuracy.
        """
        # Every trial from the same seed: its weights (and, in `fit`, its
        # dropout and data order) are the same whatever ran before.
        if self.seed is not None:
            keras.utils.set_random_seed(self.seed)
        values = {
            name: declare(hp, name, spec)
            for name, spec in self.space.items()
        }
        learning_rate = values.pop("learning_rate")
        model = build_model(
            self.source_tokenizer.vocabulary_size,
            self.target_tokenizer.vocabulary_size,
            preset=self.preset,
            **values,
        )
        # Create the variables now: the tuner loads checkpoints into them.
        source = np.array([[TextTokenizer.END_ID, 0]], "int32")
        target = np.array([[TextTokenizer.START_ID]], "int32")
        model((source, target))
        model.compile(optimizer=Adam(learning_rate))
        # Also the optimizer's: checkpoints hold its state too.
        model.optimizer.build(model.trainable_variables)
        return model

    def datasets(self, epoch=None) -> tuple:
        """New `(train, validation)` `tf.data` datasets.

        New on every call: the training set's shuffle order starts from
        `seed` again (a reused dataset would go on from where the last
        trial left it).

        Args:
            epoch: optional `epoch_variable()` (see `make_dataset`): each
                epoch's order is then a function of `(seed, epoch)`.

        Returns:
            `(train, validation)`.
        """
        settings = (
            self.source_tokenizer,
            self.target_tokenizer,
            self.max_source_length,
            self.max_target_length,
        )
        train = make_dataset(
            self.train_pairs,
            *settings,
            batch_size=self.batch_size,
            shuffle=True,
            seed=self.seed,
            epoch=epoch,
        )
        validation = make_dataset(
            self.validation_pairs,
            *settings,
            batch_size=self.batch_size,
            name="validation_pairs",
        )
        return train, validation

    def fit(
        self,
        hp: keras_tuner.HyperParameters,
        model: keras.Model,
        *args,
        **kwargs,
    ) -> dict:
        """Trains one trial's model and measures the objective.

        Args:
            hp: the trial's hyperparameters.
            model: the model from `build(hp)`.
            *args: must be empty: the data are the hypermodel's pairs.
            **kwargs: `keras.Model.fit` arguments given by the tuner
                (`epochs`, `initial_epoch`, `callbacks`, `verbose`, ...).

        Returns:
            A dict of float metrics of the best epoch for `"val_loss"` (the
            one the tuner checkpoints) or of the last epoch for
            `"val_chrf"`: `loss`, `val_loss`, the accuracies and, for
            `"val_chrf"`, `val_chrf` and `val_bleu` (0-100).

        Raises:
            TypeError: positional data were passed.
            keras_tuner.errors.FailedTrialError: the loss became NaN or
                infinite, or no epoch ran.
        """
        if args:
            raise TypeError(
                "`TranslatorHyperModel.fit` takes no positional data. "
                f"Received: {len(args)} argument(s). The hypermodel trains "
                "on its own pairs; call tuner.search(epochs=...)."
            )
        for key in ("x", "y", "validation_data"):
            if key in kwargs:
                raise TypeError(
                    f"`{key}` must not be passed to TranslatorHyperModel.fit. "
                    f"Received: {key}=... The hypermodel trains on its own "
                    "pairs; call tuner.search(epochs=...)."
                )
        guard = _DivergenceGuard()
        # Epoch k's order depends on (seed, k) alone: a Hyperband trial that
        # goes on from an earlier trial's model (`initial_epoch=k`) trains
        # on the batches of an uninterrupted run, not on epoch 0's again.
        # Without a seed the order comes from the global state.
        epoch = None if self.seed is None else epoch_variable()
        callbacks = [guard, *(kwargs.pop("callbacks", None) or [])]
        if epoch is not None:
            callbacks.insert(0, SetEpoch(epoch))
        # The training dataset reshuffles itself every epoch.
        kwargs.setdefault("shuffle", False)
        train, validation = self.datasets(epoch=epoch)
        history = model.fit(
            train, validation_data=validation, callbacks=callbacks, **kwargs
        )
        logs = history.history
        if guard.failure is None:
            for key in ("loss", "val_loss"):
                for value in logs.get(key, []):
                    if not math.isfinite(value):
                        guard.failure = f"{key}={value}"
        if guard.failure is not None:
            raise keras_tuner.errors.FailedTrialError(
                f"Trial diverged: {guard.failure} with hyperparameters "
                f"{hp.values}. Lower the learning rate range."
            )
        if not logs.get("val_loss"):
            raise keras_tuner.errors.FailedTrialError(
                "Trial ran no epoch (epochs <= initial_epoch). Raise epochs."
            )
        if self.objective == "val_loss":
            epoch = int(np.argmin(logs["val_loss"]))
        else:
            epoch = len(logs["val_loss"]) - 1
        metrics = {key: float(values[epoch]) for key, values in logs.items()}
        if self.objective == "val_chrf":
            translator = Translator(
                self.source_tokenizer,
                self.target_tokenizer,
                model,
                max_source_length=self.max_source_length,
                max_target_length=self.max_target_length,
            )
            scores = translator.evaluate(
                self.validation_pairs[: self.chrf_samples]
            )
            metrics["val_chrf"] = float(scores["chrf"])
            metrics["val_bleu"] = float(scores["bleu"])
        return metrics
