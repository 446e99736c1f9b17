"""Vigil's OPC UA client plugin (asyncua), written against the public SDK only."""
