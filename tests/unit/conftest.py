"""Hypothesis settings for the unit tests: no per-example deadline.

Hypothesis fails an example that takes longer than its `deadline` (200 ms by
default): a wall-clock assertion, which a busy two-core CI machine trips
without any change to the code. How fast things are is measured in bench/,
not asserted in tests. Tests that set their own `settings(...)` inherit this
profile for what they leave out.

Examples are a fixed sequence (derandomized), so the test command is
repeatable on a fresh clone; LIVEMOUNT_HYPOTHESIS_RANDOM=1 draws new ones
each run, for hunting outside the test command.
"""

import os

from hypothesis import settings

settings.register_profile("livemount-unit", deadline=None,
                          derandomize=not os.environ.get("LIVEMOUNT_HYPOTHESIS_RANDOM"))
settings.load_profile("livemount-unit")
