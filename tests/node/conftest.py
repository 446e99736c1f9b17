"""Node tests run against a real Mosquitto started by the fixtures in tests/mqtt_support.py."""

from mqtt_support import MosquittoBroker, mosquitto, secured_mosquitto  # noqa: F401
