"""A workstation attached to Vigil nodes over MQTT: the Vigil station protocol (`protocol`,
`server` on the node, PROTOCOL.md) and `RemoteStation`, the Sparkplug B host application the
window talks to through the same `Station` interface as in-process."""
