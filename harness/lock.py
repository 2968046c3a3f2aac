"""Moved to `harness.core.lock` (cross-process locks), where plug-ins import it from; this old name is the same
module object (not a copy), so harness code and tests that import or monkeypatch it keep working."""

import sys

from harness.core import lock as _moved

sys.modules[__name__] = _moved
