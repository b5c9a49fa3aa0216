"""Authentication of each API request and the permission check every endpoint declares."""

from __future__ import annotations

from functools import wraps
from typing import Callable

from flask import g, request

from ..errors import Forbidden, Unauthorized
from .logic import authenticate
from .permissions import PERMISSIONS, Principal


def current_principal() -> Principal:
    principal = g.get("principal")
    if principal is None:
        raise Unauthorized("Send `Authorization: Bearer <token>` or an API key.")
    return principal


# Other kinds of bearer credential, by prefix: e.g. a chat customer's token, which the chats
# domain resolves. Keeps auth free of the domains built on it.
TOKEN_RESOLVERS: dict[str, Callable[[str], Principal | None]] = {}


def principal_from_request() -> Principal:
    """The caller of this request, from its Authorization header; raises Unauthorized."""
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    if not header:
        raise Unauthorized("Send `Authorization: Bearer <token>` or an API key.")
    if scheme.lower() != "bearer" or not credential.strip() or len(credential) > 512:
        raise Unauthorized("The Authorization header must be `Bearer <token>`.")
    credential = credential.strip()
    resolver = next((r for prefix, r in TOKEN_RESOLVERS.items() if credential.startswith(prefix)), authenticate)
    principal = resolver(credential)
    if principal is None:
        raise Unauthorized("The token or API key is unknown, expired or revoked.",
                           code="invalid-token")
    return principal


def require(permission: str, *, chat_customer: bool = False):
    """Authenticate the caller and check ``permission`` before the view parses any input.

    With ``chat_customer``, a chat customer's token also passes, for its own chat only (the
    view's ``chat_id``).
    """
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            principal = principal_from_request()
            g.principal = principal
            if principal.kind == "chat":
                if chat_customer and principal.id == kwargs.get("chat_id"):
                    return view(*args, **kwargs)
                raise Forbidden("A chat token opens its own chat only.")
            if principal.second_factor_missing and permission != "session":
                raise Forbidden("Your role requires a second factor: enrol an authenticator app first.",
                                code="second-factor-enrolment-required")
            if not principal.may(permission):
                raise Forbidden(f"Your role may not do this (needs {permission}).")
            return view(*args, **kwargs)

        wrapper.required_permission = permission
        return wrapper

    return decorator
