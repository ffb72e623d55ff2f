"""The vendor SDK's test devices: ``BaseMockDevice`` and the remote lab's ``RemoteLabDevice``."""
