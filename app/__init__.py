"""Vigil: a desktop supervisory-control (SCADA) workstation."""

__version__ = "0.1.0"
