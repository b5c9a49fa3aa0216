from flask import current_app, request

from ..blueprint import Blueprint
from ..auth.guard import current_principal
from ..pagination import page_schema
from . import logic, officials
from .schemas import (ApiKeyCreatedOut, ApiKeyIn, ApiKeyOut, ApiKeyQuery, LoginIn, MeOut,
                      OfficialIn, OfficialOut, OfficialQuery, OfficialUpdate, TokenOut)

auth_blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth",
                     description="Signing in and out")
officials_blp = Blueprint("officials", __name__, url_prefix="/api/v1/officials",
                          description="Officials: the people who use the service, and their roles")
api_keys_blp = Blueprint("api_keys", __name__, url_prefix="/api/v1/api-keys",
                         description="API keys for integrations")

OfficialPage = page_schema(OfficialOut, "OfficialPage")
ApiKeyPage = page_schema(ApiKeyOut, "ApiKeyPage")


@auth_blp.route("/token", methods=["POST"])
@auth_blp.public
@auth_blp.arguments(LoginIn)
@auth_blp.response(201, TokenOut)
@auth_blp.alt_response(401, description="Wrong username or password")
@auth_blp.alt_response(429, description="Locked after repeated failures; see Retry-After")
def create_token(data):
    """Sign in: exchange username and password for a bearer token"""
    config = current_app.config
    raw, token = logic.login(
        username=data["username"], password=data["password"],
        token_ttl_seconds=config["TOKEN_TTL_SECONDS"], max_failures=config["LOGIN_MAX_FAILURES"],
        lockout_seconds=config["LOGIN_LOCKOUT_SECONDS"], client_address=request.remote_addr,
    )
    return {"access_token": raw, "token_type": "Bearer", "expires_at": token.expires_at}


@auth_blp.route("/token", methods=["DELETE"])
@auth_blp.requires("session")
@auth_blp.response(204)
def revoke_token():
    """Sign out: revoke the token this request carries"""
    logic.revoke_token(principal=current_principal())


@auth_blp.route("/me", methods=["GET"])
@auth_blp.requires("session")
@auth_blp.response(200, MeOut)
def who_am_i():
    """The signed-in official (or API key), with the permissions the caller holds"""
    principal = current_principal()
    return logic.describe(principal)


@officials_blp.route("", methods=["GET"])
@officials_blp.requires("officials.read")
@officials_blp.arguments(OfficialQuery, location="query")
@officials_blp.response(200, OfficialPage)
def list_officials(args):
    """List officials"""
    return officials.list_officials(actor=current_principal(), **args)


@officials_blp.route("", methods=["POST"])
@officials_blp.requires("officials.manage")
@officials_blp.arguments(OfficialIn)
@officials_blp.response(201, OfficialOut)
def create_official(data):
    """Create an official"""
    return officials.create_official(actor=current_principal(), data=data)


@officials_blp.route("/<int:official_id>", methods=["GET"])
@officials_blp.requires("officials.read")
@officials_blp.response(200, OfficialOut)
def get_official(official_id):
    """Get an official"""
    return officials.read_official(actor=current_principal(), official_id=official_id)


@officials_blp.route("/<int:official_id>", methods=["PATCH"])
@officials_blp.requires("officials.manage")
@officials_blp.arguments(OfficialUpdate(partial=True))
@officials_blp.response(200, OfficialOut)
def update_official(data, official_id):
    """Change an official's role, profile, password, lines or active flag"""
    return officials.update_official(actor=current_principal(), official_id=official_id, data=data)


@officials_blp.route("/<int:official_id>", methods=["DELETE"])
@officials_blp.requires("officials.manage")
@officials_blp.response(204)
def deactivate_official(official_id):
    """Deactivate an official (kept for the records; their tokens are revoked)"""
    officials.deactivate_official(actor=current_principal(), official_id=official_id)


@api_keys_blp.route("", methods=["GET"])
@api_keys_blp.requires("api_keys.manage")
@api_keys_blp.arguments(ApiKeyQuery, location="query")
@api_keys_blp.response(200, ApiKeyPage)
def list_api_keys(args):
    """List API keys (never the secrets)"""
    return logic.list_api_keys(**args)


@api_keys_blp.route("", methods=["POST"])
@api_keys_blp.requires("api_keys.manage")
@api_keys_blp.arguments(ApiKeyIn)
@api_keys_blp.response(201, ApiKeyCreatedOut)
def create_api_key(data):
    """Create an API key; the secret is in this response only"""
    raw, key = logic.create_api_key(actor=current_principal(), name=data["name"], scopes=data["scopes"])
    key.secret = raw  # transient: never stored, shown once
    return key


@api_keys_blp.route("/<int:key_id>", methods=["DELETE"])
@api_keys_blp.requires("api_keys.manage")
@api_keys_blp.response(204)
def revoke_api_key(key_id):
    """Revoke an API key"""
    logic.revoke_api_key(actor=current_principal(), key_id=key_id)
