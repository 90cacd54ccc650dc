"""`python -m keras_bahdanau.cli`: the `keras-bahdanau` command line."""

import sys

from keras_bahdanau.cli import main

if __name__ == "__main__":
    sys.exit(main())
