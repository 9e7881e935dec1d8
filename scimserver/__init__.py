"""scimserver: a SCIM 2.0 provisioning server."""

__version__ = "0.1.0"
