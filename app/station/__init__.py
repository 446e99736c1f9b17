"""The composition root: builds Vigil's services and offers them to the window and the CLI."""

from app.station.engine import Core, NotStarted, Services

__all__ = ["Core", "NotStarted", "Services"]
