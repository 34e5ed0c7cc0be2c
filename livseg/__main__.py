"""Entry point for ``python -m livseg``."""

from livseg.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
