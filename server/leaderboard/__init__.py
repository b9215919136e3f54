"""Leaderboards: built from the scored submissions (``board``, ``entries``), cached in one
place (``cache``: the cache policy; ``builder``: builds off the event loop; ``hot``: boards kept
warm), exported as CSV (``export``)."""
