"""Stable import path for plug-ins: params and run context (defined in `harness.core.plugin`)."""

from harness.core.plugin import PROFILES, ParamError, Plugin, PluginParams, Profile, RunContext

__all__ = ["PROFILES", "ParamError", "Plugin", "PluginParams", "Profile", "RunContext"]
