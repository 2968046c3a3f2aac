"""The detector contract, for plug-ins: defined in `harness.core.detector` (see there)."""

from harness.core.detector import Detector, Predictions, TrainSet
from harness.core.plugin import RunContext

__all__ = ["Detector", "Predictions", "RunContext", "TrainSet"]
