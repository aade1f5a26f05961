"""The device: who it is (model, MAC, version) and its network."""
