"""Scenario schema and loading: the typed, frozen description of one simulated world."""

from simulator.scenario.loader import dump_scenario, load_scenario, validate_mapping
from simulator.scenario.schema import SCHEMA_VERSION, SIZE_CLASSES, Scenario, size_class

__all__ = [
    "SCHEMA_VERSION",
    "SIZE_CLASSES",
    "Scenario",
    "dump_scenario",
    "load_scenario",
    "size_class",
    "validate_mapping",
]
