"""Settings for every unit and property test.

Hypothesis's per-example deadline (200 ms) measures the machine, not kwire: on a
loaded 2-core CI runner a pure test can take longer and fail without a bug.
Speed is measured by the benchmarks; here only correctness is, so no deadline.
"""

from hypothesis import settings

settings.register_profile("kwire", deadline=None)
settings.load_profile("kwire")
