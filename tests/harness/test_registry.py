import pytest

from harness.core import DETECTORS, GENERATORS, Registry, UnknownNameError


def test_builtins_are_discovered():
    assert {"none", "cutpaste"} <= set(GENERATORS.names())
    assert "supervised-seg" in DETECTORS.names()


def test_unknown_name_lists_registered_and_suggests():
    with pytest.raises(UnknownNameError) as e:
        GENERATORS.get("cutpast")
    msg = str(e.value)
    assert msg.startswith("unknown generator 'cutpast'") and "did you mean" in msg and "none" in msg


def test_duplicate_registration_is_refused():
    reg: Registry = Registry("widget")

    @reg.register("a")
    class A:
        """An A."""

    with pytest.raises(ValueError, match="registered twice"):

        @reg.register("a")
        class B:
            pass

    assert reg.get("a") is A and reg.entries()[0].summary == "An A."


def test_entry_points_plug_in(monkeypatch):
    import harness.core.registry as registry

    class FakeEP:
        name, value = "third-party", "pkg.mod:Gen"

        def load(self):
            class Gen:
                """A plug-in from another package."""

            return Gen

    monkeypatch.setattr(registry, "entry_points", lambda group: [FakeEP()] if group == "bench.test" else [])
    reg: Registry = Registry("generator", group="bench.test")
    assert reg.names() == ["third-party"]
    assert reg.entries()[0].origin == "pkg.mod:Gen"
