"""``python -m wasmloom``: the same as the ``wasmloom`` command."""

import sys

if sys.dont_write_bytecode and sys.argv[1:2] in (["run"], ["serve"]):
    # Where Python keeps no bytecode, the code cache that `run` and `serve` install
    # (wasmloom.codecache) is installed before the command line's own imports
    # (argparse and what it brings), unless an option that may be --no-cache is given.
    if not any(a.startswith("--no-") for a in sys.argv[2:]):
        from wasmloom import codecache

        codecache.install_all()

from wasmloom.cli import entry

entry()
