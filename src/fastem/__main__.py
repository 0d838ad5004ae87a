"""``python -m fastem``: the command line (see :mod:`fastem.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
