"""Moved to `harness.core.io` (image and mask IO), where plug-ins import it from; this old name is the same
module object (not a copy), so harness code and tests that import or monkeypatch it keep working."""

import sys

from harness.core import io as _moved

sys.modules[__name__] = _moved
