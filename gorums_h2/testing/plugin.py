"""pytest plugin of gorums_h2 (registered through the ``pytest11`` entry point)."""
