"""What edgesync ships for other people's tests.

- :mod:`edgesync.testing.documents` -- realistic office documents and edits,
  generated on the spot (needs ``edgesync[test]``).
"""
