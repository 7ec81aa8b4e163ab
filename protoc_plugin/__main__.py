"""``python -m protoc_plugin``: the same plugin as the ``protoc-gen-gorums_py`` script."""

import sys

from protoc_plugin.main import main

sys.exit(main())
