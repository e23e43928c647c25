"""Reading a scenario file: a trace scenario or a generated one (``scenario_meta.py`` says what
each holds). Kept apart from the types so that ``sim_scenario`` (generated scenarios) and
``scenario_meta`` (the types and trace scenarios) do not import each other.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from discofilter.errors import ConfigError
from discofilter.harness.scenario_meta import ScenarioMeta, trace_meta
from discofilter.harness.sim_scenario import generated_meta


def scenario_meta(path: Path, *, non_mesh_share: float | None = None) -> ScenarioMeta:
    """Read ``path``; ``non_mesh_share`` overrides a generated scenario's share of churn."""
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: {e}") from e
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    if "trace" in doc:
        if non_mesh_share is not None:
            raise ConfigError(f"{path}: --non-mesh-share does not apply to a trace scenario")
        return trace_meta(path, doc)
    return generated_meta(path, doc, non_mesh_share)
