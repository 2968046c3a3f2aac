"""The contract suite as a public API, for our plug-ins and a third party's alike.

Why in the package and not in ``tests/``: a plug-in installed through our entry points must pass
the checks the harness relies on, and its author must be able to run them (scikit-learn ships
``check_estimator`` / ``parametrize_with_checks`` for the same reason). The checks a plug-in gets
are picked by what it declares (`makes_pairs`, `keeps_canvas_outside_mask`, `uses_anomalies`,
`supported_devices`, `resume_params`, …), they run it with its own `tiny_params`, and a check it
fails on purpose is named in its `expected_failures` with the reason.

Use::

    from harness.core.checks import check_generator, parametrize_with_checks

    check_generator(MyGenerator)          # every check; raises CheckFailed naming each failure

    @parametrize_with_checks([MyGenerator, MyDetector])
    def test_contract(plugin, check, tmp_path):
        check(plugin, tmp_path)           # one pytest item per check; expected failures xfail

The device checks run the plug-in on the fake accelerator (`harness.core.fakegpu`), whose device
must be registered before the process's first backward pass: `parametrize_with_checks` and
`check_generator` / `check_detector` register it, so call them (or ``fakegpu.enable()``) early.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from harness.core.detector import Detector
from harness.core.generator import Generator
from harness.core.plugin import PROFILES, Plugin, PluginParams, RequiredFile

__all__ = ["Check", "CheckFailed", "check_detector", "check_generator", "detector_checks", "generator_checks",
           "parametrize_with_checks"]


class CheckFailed(AssertionError):
    """A plug-in broke the contract: the message names every failed check (and any expected
    failure that passed, so a stale `expected_failures` entry is noticed)."""


@dataclass(frozen=True)
class Check:
    """One contract check. Call it with the plug-in (class or instance) and a scratch folder."""

    name: str
    run: Callable[[Any], None]  # the check, given the plug-in's bench (its data and cached fits)
    bench: Callable[[type, dict[str, Any], Path], Any]  # builds that bench
    slow: bool = False  # fits and predicts: the test suite marks it ``slow``

    def __call__(self, plugin: type[Plugin] | Plugin, work_dir: Path) -> None:
        cls, params = plugin_and_params(plugin)
        self.run(_bench_for(self.bench, cls, params, Path(work_dir)))

    def __repr__(self) -> str:
        return self.name


def plugin_and_params(plugin: type[Plugin] | Plugin) -> tuple[type[Plugin], dict[str, Any]]:
    """A class is checked with its `tiny_params`; an instance with the params it was made with."""
    if isinstance(plugin, type):
        return plugin, dict(plugin.tiny_params)
    params = getattr(plugin, "params", None)
    return type(plugin), (params.model_dump() if isinstance(params, PluginParams) else dict(plugin.tiny_params))


#: the bench of the last plug-in checked through `Check.__call__`: one pytest item per check would
#: otherwise fit the plug-in again for each (the old module-scoped fixtures' sharing, kept)
_LAST: dict[str, Any] = {}


def _bench_for(make: Callable[[type, dict[str, Any], Path], Any], cls: type, params: dict[str, Any],
               work_dir: Path) -> Any:
    key = f"{make.__module__}.{make.__qualname__}|{cls.__module__}.{cls.__qualname__}|" \
          f"{json.dumps(params, sort_keys=True, default=str)}"
    if _LAST.get("key") != key:
        _LAST.clear()
        _LAST.update(key=key, bench=make(cls, params, work_dir))
    else:
        _LAST["bench"].work_dir = work_dir  # this check's own scratch folder; the cached fits stay
    return _LAST["bench"]


# ----------------------------------------------------------------------------- declarations


def check_declarations(cls: type[Plugin], params: dict[str, Any], checks: Sequence[str]) -> None:
    """What every plug-in declares is well-formed: a name, a `Params` model its tiny params and
    profile defaults resolve in, known check names in `expected_failures`, devices, files."""
    assert isinstance(cls.name, str) and cls.name, f"{cls.__qualname__}: declare `name`"
    assert isinstance(cls.Params, type) and issubclass(cls.Params, PluginParams), \
        f"{cls.name}: Params must subclass harness.core.PluginParams (unknown keys rejected)"
    unknown_profiles = set(cls.profile_defaults) - set(PROFILES)
    assert not unknown_profiles, f"{cls.name}: profile_defaults for unknown profiles {sorted(unknown_profiles)}"
    for profile in PROFILES:
        cls.resolve_params({}, profile)  # its own defaults validate (ParamError names the bad key)
    resolved = cls.resolve_params(params, "cpu-quick")  # the checks' size
    stale = set(cls.expected_failures) - set(checks)
    assert not stale, f"{cls.name}: expected_failures names no check of it: {sorted(stale)} (checks: {list(checks)})"
    assert all(isinstance(r, str) and r for r in cls.expected_failures.values()), \
        f"{cls.name}: every expected failure needs a reason"
    assert cls.supported_devices and all(isinstance(d, str) for d in cls.supported_devices), \
        f"{cls.name}: supported_devices must name torch device types, e.g. ('cpu', 'cuda')"
    files = cls.required_files(resolved)
    assert isinstance(files, list) and all(isinstance(f, RequiredFile) for f in files), \
        f"{cls.name}: required_files must return a list of harness.core.RequiredFile"


# ----------------------------------------------------------------------------- selection and running


def generator_checks(plugin: type[Generator] | Generator) -> list[Check]:
    """The checks that apply to this generator, picked by what it declares."""
    from harness.core.checks import generators

    return generators.checks_for(plugin_and_params(plugin)[0])


def detector_checks(plugin: type[Detector] | Detector) -> list[Check]:
    """The checks that apply to this detector, picked by what it declares."""
    from harness.core.checks import detectors

    return detectors.checks_for(plugin_and_params(plugin)[0])


def _run_all(plugin: Any, checks: list[Check], work_dir: Path | None) -> dict[str, str]:
    from harness.core import fakegpu

    fakegpu.enable()
    cls, params = plugin_and_params(plugin)
    outcome: dict[str, str] = {}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix=f"checks-{cls.name}-") as tmp:
        root = Path(work_dir) if work_dir is not None else Path(tmp)
        bench = None
        for check in checks:
            if bench is None:
                bench = check.bench(cls, params, root / "bench")
            bench.work_dir = root / check.name
            reason = cls.expected_failures.get(check.name)
            try:
                check.run(bench)
            except Exception as exc:  # noqa: BLE001 - every failure is reported, by check
                if reason is None:
                    problems.append(f"{check.name}: {type(exc).__name__}: {exc}")
                    outcome[check.name] = "failed"
                else:
                    outcome[check.name] = f"expected failure: {reason}"
                continue
            if reason is not None:
                problems.append(f"{check.name}: passed, but expected_failures says it fails ({reason}); "
                                "remove the entry")
                outcome[check.name] = "unexpectedly passed"
            else:
                outcome[check.name] = "passed"
    if problems:
        raise CheckFailed(f"{cls.name} fails {len(problems)} contract check(s):\n" + "\n".join(problems))
    return outcome


def check_generator(plugin: type[Generator] | Generator, *, work_dir: Path | None = None) -> dict[str, str]:
    """Run every generator check on `plugin`; check name → outcome. Raises `CheckFailed` (naming
    every failure) when a check fails that `expected_failures` does not name, or one it names passes."""
    return _run_all(plugin, generator_checks(plugin), work_dir)


def check_detector(plugin: type[Detector] | Detector, *, work_dir: Path | None = None) -> dict[str, str]:
    """Run every detector check on `plugin`; as `check_generator`."""
    return _run_all(plugin, detector_checks(plugin), work_dir)


def parametrize_with_checks(plugins: Iterable[type[Plugin] | Plugin]):
    """A pytest decorator: one item per (plug-in, check), with ids ``name-check``; a check named in
    the plug-in's `expected_failures` is a strict xfail with its reason, the fitting ones ``slow``."""
    import pytest

    from harness.core import fakegpu

    fakegpu.enable()
    params = []
    for plugin in plugins:
        cls = plugin_and_params(plugin)[0]
        checks = generator_checks(plugin) if issubclass(cls, Generator) else detector_checks(plugin)
        for check in checks:
            marks = [pytest.mark.slow] if check.slow else []
            reason = cls.expected_failures.get(check.name)
            if reason is not None:
                marks.append(pytest.mark.xfail(reason=reason, strict=True))
            params.append(pytest.param(plugin, check, id=f"{cls.name}-{check.name}", marks=marks))
    return pytest.mark.parametrize(("plugin", "check"), params)
