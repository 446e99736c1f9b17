"""Process displays on screen: symbols, the scene, navigation and faceplates (Qt)."""
