"""What the exporter remembers between runs: the SQLite state, locks, the heartbeat."""
