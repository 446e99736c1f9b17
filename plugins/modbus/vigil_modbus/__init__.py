"""Vigil's built-in Modbus TCP/RTU driver plugin (written against the public SDK only)."""

from vigil_modbus.driver import RtuDriver, TcpDriver

__all__ = ["RtuDriver", "TcpDriver"]
