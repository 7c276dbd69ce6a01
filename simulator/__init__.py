"""lingang-sim: a compute-capacity planning simulator for Lingang's AI compute centres.

Python API::

    from simulator import load_scenario, run, run_experiment
"""

__version__ = "0.1.0"

from simulator.run import run  # noqa: E402
from simulator.scenario import load_scenario  # noqa: E402

__all__ = ["__version__", "load_scenario", "run"]
