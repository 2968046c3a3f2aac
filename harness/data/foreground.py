"""Moved to `harness.core.foreground` (the object estimate), where plug-ins import it from; this old name is the same
module object (not a copy), so harness code and tests that import or monkeypatch it keep working."""

import sys

from harness.core import foreground as _moved

sys.modules[__name__] = _moved
