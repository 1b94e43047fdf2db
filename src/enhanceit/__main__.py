"""``python -m enhanceit``: the same as the ``enhanceit`` command."""

import sys

from enhanceit.cli.main import main

sys.exit(main())
