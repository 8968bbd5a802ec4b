"""`python -m reelhouse.cli ...`: the same as the `reelhouse` command."""

from reelhouse.cli import main

main()
