"""``python -m gorums_h2.cli`` is the ``gorums-h2`` command."""

import sys

from gorums_h2.cli import main

sys.exit(main())
