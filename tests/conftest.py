import os

from hypothesis import HealthCheck, settings

# Numba kernels compile once per session (then come from the on-disk cache);
# hypothesis' per-example deadline would count that compile against one example.
settings.register_profile("saddle", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "saddle"))
