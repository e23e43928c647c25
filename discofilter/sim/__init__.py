"""The Kubernetes API emulator (``discofilter sim``): store, HTTP server, scenarios, churn.

Store           objects, revisions, bounded history          store.py  (pure)
Simulator       the aiohttp API server over a Store          server.py
load_scenario   YAML cluster + churn profile                 scenario.py
populate        fill a Store from a scenario                 populate.py
ChurnDriver     play a scenario's churn on an injected clock churn.py
objects         realistic object factories (pod parts: pod_parts.py) objects.py (pure)
encodings       JSON and protobuf bodies, Accept negotiation encoding.py, protobuf_encoding.py
k8sproto        JSON-shaped dicts ⇄ protobuf over our wire subset k8sproto.py, protoencode.py
                (the emulator's only: the proxy's codec never builds objects; protoencode shares
                ``codec/wire.py``'s varint encoding)
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
