"""SunSpec device type for Vigil: model discovery on inverters (see ``device.py``)."""
