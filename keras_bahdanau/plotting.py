"""Attention heatmaps (Bahdanau et al., 2015, Figure 3).

matplotlib is imported inside the functions (the `plot` extra). Fonts: the
tick labels use a list of font families so that matplotlib falls back glyph
by glyph. DejaVu Sans (shipped with matplotlib) covers Latin, Greek and
Cyrillic; for other scripts the installed fonts are searched for one whose
character map covers the text. Font files shipped in Python packages named
`fontpkg-*` or `noto-cjk-*` (the `plot` extra installs
`fontpkg-noto-sans-devanagari` and `noto-cjk-sans-jp-regular`, whose Noto
Sans CJK covers Japanese, Chinese and Korean) are registered with matplotlib
first, so Devanagari and CJK render without system fonts. When no font
covers some characters a warning names them (they would be drawn as boxes).
"""

import functools
import importlib.metadata
import os
import warnings

_BASE_FAMILY = "DejaVu Sans"
_FONT_SUFFIXES = (".ttf", ".otf")
# Python distributions that carry font files (and nothing to run).
_FONT_DISTRIBUTION_PREFIXES = ("fontpkg-", "noto-cjk-")


def _require_matplotlib():
    try:
        import matplotlib

        return matplotlib
    except ImportError:
        raise ImportError(
            "Attention plots need matplotlib. Install it with "
            "`pip install keras-bahdanau[plot]`."
        ) from None


@functools.lru_cache(maxsize=1)
def _register_package_fonts() -> tuple:
    """Adds the fonts of installed font packages to matplotlib."""
    from matplotlib import font_manager

    added = []
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if not name.startswith(_FONT_DISTRIBUTION_PREFIXES):
            continue
        for file in dist.files or ():
            if str(file).lower().endswith(_FONT_SUFFIXES):
                path = str(dist.locate_file(file))
                if os.path.isfile(path):
                    try:
                        font_manager.fontManager.addfont(path)
                        added.append(path)
                    except (OSError, RuntimeError, ValueError):
                        continue
    return tuple(added)


@functools.lru_cache(maxsize=None)
def _charmap(path: str) -> frozenset:
    from matplotlib import ft2font

    try:
        return frozenset(ft2font.FT2Font(path).get_charmap())
    except (OSError, RuntimeError, ValueError):
        return frozenset()


def font_families(texts: list[str]) -> list[str]:
    """Font families that together cover the characters of `texts`.

    Args:
        texts: strings to be drawn.

    Returns:
        Family names for matplotlib's per-glyph fallback, DejaVu Sans
        first. A `UserWarning` names the characters no font covers.
    """
    _require_matplotlib()
    from matplotlib import font_manager

    _register_package_fonts()
    needed = {ord(c) for text in texts for c in text if not c.isspace()}
    base = font_manager.findfont(_BASE_FAMILY, fallback_to_default=True)
    missing = needed - _charmap(base)
    families = [_BASE_FAMILY]
    if missing:
        # Package fonts first, then the rest, regular styles preferred.
        entries = sorted(
            font_manager.fontManager.ttflist,
            key=lambda e: (e.style != "normal", e.weight != 400, e.fname),
        )
        for entry in entries:
            if not missing or entry.name in families:
                continue
            if entry.name.startswith("Last Resort"):
                continue  # matplotlib's placeholder boxes, not glyphs
            covered = missing & _charmap(entry.fname)
            if covered:
                families.append(entry.name)
                missing -= covered
    # Combining marks are drawn from the font of their base letter.
    missing = {c for c in missing if not 0x300 <= c < 0x370}
    if missing:
        shown = "".join(sorted(chr(c) for c in missing))[:20]
        warnings.warn(
            f"No installed font has glyphs for {shown!r}; they will show as "
            "boxes. Install `pip install keras-bahdanau[plot]` (Noto Sans "
            "Devanagari) and, for CJK, a system font such as fonts-noto-cjk.",
            stacklevel=2,
        )
    return families


def plot_attention(
    source_tokens: list[str],
    target_tokens: list[str],
    weights,
    path: "str | None" = None,
    title: "str | None" = None,
):
    """Draws an attention matrix with source tokens on x, target on y.

    Args:
        source_tokens: `S` labels of the columns.
        target_tokens: `T` labels of the rows.
        weights: array `(T, S)` of attention weights in `[0, 1]`.
        path: image file to write, or `None`.
        title: optional figure title.

    Returns:
        The matplotlib `Figure`, made by pyplot and closed at once (figures
        do not pile up, and it is not shown twice); a notebook cell that
        returns it displays it.

    Raises:
        ImportError: matplotlib is not installed (the `plot` extra).
        ValueError: `weights` does not have shape `(T, S)`.
    """
    _require_matplotlib()
    import numpy as np
    from matplotlib import pyplot

    weights = np.asarray(weights, dtype="float32")
    expected = (len(target_tokens), len(source_tokens))
    if weights.shape != expected:
        raise ValueError(
            "`weights` must have shape (len(target_tokens), "
            f"len(source_tokens)) = {expected}. Received: weights.shape="
            f"{weights.shape}. Pass the matrix from Translator.attention."
        )
    families = font_families(list(source_tokens) + list(target_tokens))
    width = max(4.0, 0.5 * len(source_tokens) + 1.5)
    height = max(3.0, 0.45 * len(target_tokens) + 1.5)
    # Through pyplot: Jupyter's inline backend, which displays the
    # figures cells return, starts only when pyplot is used.
    figure = pyplot.figure(figsize=(width, height), layout="constrained")
    pyplot.close(figure)
    axes = figure.add_subplot()
    image = axes.imshow(
        weights, cmap="gray", vmin=0.0, vmax=1.0, aspect="auto"
    )
    axes.set_xticks(range(len(source_tokens)))
    axes.set_xticklabels(
        source_tokens, rotation=90, fontfamily=families, fontsize=10
    )
    axes.set_yticks(range(len(target_tokens)))
    axes.set_yticklabels(target_tokens, fontfamily=families, fontsize=10)
    axes.xaxis.set_ticks_position("top")
    axes.set_xlabel("source")
    axes.set_ylabel("target")
    if title:
        axes.set_title(title, fontfamily=families)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    if path is not None:
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        figure.savefig(path, dpi=120)
    return figure
