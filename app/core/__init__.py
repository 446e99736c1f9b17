"""Vigil's Qt-free core: tags, samples, profiles, codec, polling, historian, alarms, journal.

Nothing under ``app.core`` may import Qt; ``tests/test_layering.py`` enforces it.
"""
