"""``python -m wasmloom``: the same as the ``wasmloom`` command."""

import sys

from wasmloom.cli import main

sys.exit(main())
