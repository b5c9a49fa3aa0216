"""Authentication of each API request and the permission check every endpoint declares."""

from __future__ import annotations

from functools import wraps

from flask import g, request

from ..errors import Forbidden, Unauthorized
from .logic import authenticate
from .permissions import PERMISSIONS, Principal


def current_principal() -> Principal:
    principal = g.get("principal")
    if principal is None:
        raise Unauthorized("Send `Authorization: Bearer <token>` or an API key.")
    return principal


def _principal_from_request() -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    if not header:
        raise Unauthorized("Send `Authorization: Bearer <token>` or an API key.")
    if scheme.lower() != "bearer" or not credential.strip() or len(credential) > 512:
        raise Unauthorized("The Authorization header must be `Bearer <token>`.")
    principal = authenticate(credential.strip())
    if principal is None:
        raise Unauthorized("The token or API key is unknown, expired or revoked.",
                           code="invalid-token")
    return principal


def require(permission: str):
    """Authenticate the caller and check ``permission`` before the view parses any input."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            principal = _principal_from_request()
            g.principal = principal
            if not principal.may(permission):
                raise Forbidden(f"Your role may not do this (needs {permission}).")
            return view(*args, **kwargs)

        wrapper.required_permission = permission
        return wrapper

    return decorator
