"""Examples shipped with gorums-h2 (installed as ``gorums_h2.examples``)."""
