"""``python -m gorums_h2.protoc_plugin``: the plugin, as the ``protoc-gen-gorums_py`` script."""

import sys

from .main import main

sys.exit(main())
