"""Testing kit for gorums_h2 users (servers on free ports, configurations, leak checks)."""
