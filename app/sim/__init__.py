"""The built-in demo plant: a deterministic physics model (`app.sim.model`), scheduled faults
(`app.sim.faults`), and a Modbus TCP server that serves the model through the real device
profiles (`app.sim.server`). pymodbus is imported only by the server module."""
