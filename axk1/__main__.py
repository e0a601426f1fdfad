"""`python -m axk1 ...` is the `axk1` command (torchrun launches it this way: `torchrun ... -m axk1 train ...`)."""

import sys

from axk1.cli import main

sys.exit(main())
