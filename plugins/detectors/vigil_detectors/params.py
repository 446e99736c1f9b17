"""Detector parameters are checked where they are declared, before any fitting, so a bad
``--set alpha=-5`` is refused by name with its allowed range instead of surfacing later as a
LinAlgError (or, worse, a model that trains and alarms on nonsense).

The range type and the check come from the SDK (`ParamSpec`, `check_params`): the host runs the
same check on every detector plugin's declared ``param_specs``."""

from __future__ import annotations

from app.sdk import ParamSpec, check_params

Param = ParamSpec  # the short name the built-in detectors use

FRACTION = ParamSpec(float, 0.0, 1.0, lo_open=True)  # (0, 1]

__all__ = ["FRACTION", "Param", "check_params"]
