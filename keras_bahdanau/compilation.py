"""Compiles functions for the active Keras backend.

The decoding loops themselves use `keras.ops` only. Running such a loop
eagerly would dispatch every op from Python, so the model wraps the whole
search once per configuration: `tf.function` on TensorFlow (with the
model's `jit_compile` setting), `jax.jit` with the model variables passed in
explicitly through `keras.StatelessScope` on JAX (so updated weights are
seen without retracing), and plain eager execution on PyTorch.

`fuse` compiles a small `keras.ops` function (the attention step) into one
XLA kernel on TensorFlow, inside graphs that are otherwise not compiled.
This module is the only place in the package that knows which backend is
running.
"""

import contextlib
import functools
import threading
from typing import Callable

import keras
import numpy as np


def fuse(function: Callable) -> Callable:
    """Returns `function` compiled into one fused kernel where that helps.

    On TensorFlow, the function becomes one XLA cluster
    (`tf.function(jit_compile=True)`) inside whatever graph calls it, so
    its element-wise ops, reductions and small products run as a single
    compiled kernel instead of one TensorFlow op each; the rest of the graph
    stays as it is. Inside `unfused()` it is traced as plain ops. JAX
    already compiles the whole computation that calls it, and PyTorch runs
    it as is: both get `function` unchanged.

    Args:
        function: a `keras.ops` function of tensors.

    Returns:
        A callable with the same arguments and results.
    """
    if not fusion_available():
        return function
    import tensorflow as tf

    compiled = tf.function(
        function, jit_compile=True, reduce_retracing=True, autograph=False
    )

    @functools.wraps(function)
    def run(*args):
        if _fusion.off:
            return function(*args)
        return compiled(*args)

    return run


def fusion_available() -> bool:
    """Whether `fuse` compiles functions (TensorFlow) or returns them as
    they are (JAX, PyTorch)."""
    return keras.config.backend() == "tensorflow"


def tracing_for_tensorflow_xla() -> bool:
    """Whether TensorFlow is tracing code that XLA will compile.

    True inside a `tf.function(jit_compile=True)` trace: a Keras model
    compiled with `jit_compile=True`, or with the default `"auto"` where
    Keras turns XLA on (TensorFlow with a GPU). Layers read it at trace time
    to pick loops XLA can differentiate. Always False on JAX (whose XLA
    differentiates `scan`) and PyTorch.

    TensorFlow enters an XLA control-flow context while it traces such a
    function; the check reads it through `control_flow_util`, the module
    Keras 2's recurrent layers used for the same question. Should a later
    TensorFlow move it, the answer is False and `compile(jit_compile=True)`
    of `AttentionSeq2Seq` still selects the loop itself.

    Returns:
        Whether the current trace is XLA-compiled.
    """
    if keras.config.backend() != "tensorflow":
        return False
    import tensorflow as tf

    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # pragma: no cover - a TensorFlow without it
        return False
    if tf.executing_eagerly():
        return False
    return bool(control_flow_util.GraphOrParentsInXlaContext(
        tf.compat.v1.get_default_graph()
    ))


class _Fusion(threading.local):
    off = False


_fusion = _Fusion()


@contextlib.contextmanager
def unfused():
    """Traces `fuse`d functions as plain ops within the block.

    For graphs that must run where XLA is not available: a SavedModel for
    TensorFlow Serving (whose XLA CPU JIT is off by default) or for
    conversion. `Translator.export` traces its endpoint inside this block.

    Example:

    >>> from keras_bahdanau.compilation import unfused
    >>> with unfused():
    ...     pass  # trace the graph to export here
    """
    previous = _fusion.off
    _fusion.off = True
    try:
        yield
    finally:
        _fusion.off = previous


def compile_function(model: keras.Model, function: Callable) -> Callable:
    """Returns `function(*tensors) -> dict`, compiled for the backend.

    Args:
        model: the model whose variables `function` reads.
        function: a `keras.ops` function of tensors (or `None`s).

    Returns:
        A callable with the same arguments and results.
    """
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        jit = getattr(model, "jit_compile", False) is True
        return tf.function(
            function, jit_compile=jit, reduce_retracing=True, autograph=False
        )
    if backend == "jax":
        import jax

        def stateless(values, *args):
            mapping = list(zip(model.variables, values))
            with keras.StatelessScope(state_mapping=mapping):
                return function(*args)

        compiled = jax.jit(stateless)

        def run(*args):
            values = [variable.value for variable in model.variables]
            return compiled(values, *args)

        return run
    return function


def concrete_value(x) -> "np.ndarray | None":
    """`x` as a NumPy array when its values exist now, else `None`.

    Values exist for NumPy arrays, Python lists and eager tensors; they do
    not for symbolic tensors (a `tf.function` trace, a JAX tracer under
    `jax.jit`, a `keras.KerasTensor`, a PyTorch meta tensor). Checks of
    token ids use it: they run on eager calls and are skipped inside
    compiled steps, which cannot raise on data.

    Args:
        x: an array, a list, or a tensor of the active backend.

    Returns:
        A NumPy array, or `None` when `x` is symbolic.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> from keras_bahdanau.compilation import concrete_value
    >>> concrete_value(np.array([1, 2])).tolist()
    [1, 2]
    >>> concrete_value(keras.KerasTensor((2,))) is None
    True
    """
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (list, tuple, int, float)):
        return np.asarray(x)
    if isinstance(x, keras.KerasTensor):
        return None
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if not tf.is_tensor(x) or tf.is_symbolic_tensor(x):
            return None
    elif backend == "jax":
        import jax

        if isinstance(x, jax.core.Tracer):
            return None
    elif backend == "torch":
        import torch

        if not isinstance(x, torch.Tensor) or x.device.type == "meta":
            return None
        # Not `convert_to_numpy`: Keras 3.15 passes torch tensors to
        # `np.array`, which warns under NumPy 2.
        return x.detach().cpu().numpy()
    return keras.ops.convert_to_numpy(x)


def top_k_orders_ties() -> bool:
    """Whether `keras.ops.top_k` returns tied scores lowest index first.

    TensorFlow's and JAX's kernels document that order; PyTorch's `topk`
    leaves ties in no stated order (on the CPU it returned index 723 of an
    all-zero row), so `decoding.topk.ordered_top_k` sorts there instead.

    Returns:
        True on TensorFlow and JAX, False on PyTorch.

    Example:

    >>> from keras_bahdanau.compilation import top_k_orders_ties
    >>> isinstance(top_k_orders_ties(), bool)
    True
    """
    return keras.config.backend() in ("tensorflow", "jax")
