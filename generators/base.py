"""The generator contract, for plug-ins: defined in `harness.core.generator` (see there)."""

from harness.core.generator import AnomalyPair, Generator
from harness.core.plugin import RunContext

__all__ = ["AnomalyPair", "Generator", "RunContext"]
