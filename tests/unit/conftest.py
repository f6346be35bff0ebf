"""Hypothesis settings for the unit tests: no per-example deadline.

Hypothesis fails an example that takes longer than its `deadline` (200 ms by
default): a wall-clock assertion, which a busy two-core CI machine trips
without any change to the code. How fast things are is measured in bench/,
not asserted in tests. Tests that set their own `settings(...)` inherit this
profile for what they leave out.
"""

from hypothesis import settings

settings.register_profile("livemount-unit", deadline=None)
settings.load_profile("livemount-unit")
