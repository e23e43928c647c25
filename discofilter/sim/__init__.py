"""The Kubernetes API emulator (``discofilter sim``): store, HTTP server, scenarios, churn.

Store           objects, revisions, bounded history          store.py  (pure)
Simulator       the aiohttp API server over a Store          server.py
load_scenario   YAML cluster + churn profile                 scenario.py
populate        fill a Store from a scenario                 populate.py
ChurnDriver     play a scenario's churn on an injected clock churn.py
"""

from __future__ import annotations

from discofilter.sim.churn import ChurnDriver
from discofilter.sim.populate import populate
from discofilter.sim.resources import RESOURCES
from discofilter.sim.scenario import Scenario, load_scenario, parse_scenario
from discofilter.sim.server import Simulator
from discofilter.sim.store import Store

__all__ = [
    "RESOURCES",
    "ChurnDriver",
    "Scenario",
    "Simulator",
    "Store",
    "load_scenario",
    "parse_scenario",
    "populate",
]
