"""``python -m wasmloom``: the same as the ``wasmloom`` command."""

from wasmloom.cli import entry

entry()
