#!/usr/bin/env bash
# Create the isolated virtual environment for the TensorFlow Addons baseline.
#
# Usage: bash benchmarks/make_tfa_env.sh [VENV_DIR]
#
# VENV_DIR defaults to .bench/tfa-venv in the repository root (git-ignored).
# The venv is independent of the system site-packages (which hold the newer
# TensorFlow / Keras 3 used by keras_bahdanau), so the two never mix.
# Environment overrides: PYTHON (interpreter used to create the venv,
# default python3; TF 2.15 wheels exist for CPython 3.9-3.11).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv_dir="${1:-${repo_root}/.bench/tfa-venv}"
python_bin="${PYTHON:-python3}"

echo "creating venv at ${venv_dir} with $(${python_bin} --version)" >&2
mkdir -p "$(dirname "${venv_dir}")"
"${python_bin}" -m venv "${venv_dir}"

"${venv_dir}/bin/python" -m pip install --upgrade pip >&2
"${venv_dir}/bin/python" -m pip install \
    "tensorflow-cpu==2.15.1" \
    "tensorflow-addons==0.23.0" \
    "numpy<2" >&2

"${venv_dir}/bin/python" - <<'EOF'
import numpy
import tensorflow as tf
import tensorflow_addons as tfa

print(
    f"ok: tensorflow {tf.__version__}, tensorflow-addons {tfa.__version__}, "
    f"numpy {numpy.__version__}"
)
EOF
