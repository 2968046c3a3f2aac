"""The reliability catalogue's fixtures live in reliability_kit.py (the tests import its helpers too)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from reliability_kit import bench, data, registered, store_uri  # noqa: E402,F401 - fixtures
