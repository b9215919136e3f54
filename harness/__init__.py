"""Bringing a real platform up for the end-to-end tests and the benchmarks: PostgreSQL and
Redis to use (``services``), the API and workers as processes (``platform``), a competition
and a participant on it (``scenario``), and generated inputs (``cases``). Not a test module:
benchmarks import it too."""
