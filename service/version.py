"""The service's version: one place, reported by /healthz and as the OpenAPI document's
``info.version``. It is the newest released heading of CHANGELOG.md (a test keeps the two
equal), so a release moves the Unreleased notes under a new heading and changes this line in
the same commit."""

__version__ = "0.4.0"
