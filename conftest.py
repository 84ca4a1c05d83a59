"""Settings for the whole test session: tests/ and the notebooks' nbval kernels, which inherit the environment."""

import os

# Idle OpenMP threads sleep rather than spin: on a 2-core machine, where notebook kernels and torchrun workers run
# beside pytest, spinning threads take the cores from the threads doing the work (a notebook then runs 2-3x slower).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
