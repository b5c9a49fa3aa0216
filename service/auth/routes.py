from flask import current_app, redirect, request

from ..blueprint import Blueprint
from ..auth.guard import current_principal
from ..pagination import page_schema
from ..errors import Forbidden
from ..pagination import PageArgs
from . import logic, oidc, officials, second_factor, sessions
from .schemas import (ApiKeyCreatedOut, ApiKeyIn, ApiKeyOut, ApiKeyQuery, CodeIn, FrontChannelLogoutQuery,
                      LoginIn, LogoutTokenIn, MeOut,
                      OfficialIn, OfficialOut, OfficialQuery, OfficialUpdate, RecoveryCodesOut,
                      SecondFactorOut, SessionOut, SignInMethodsOut, TokenOut, TotpEnrolmentOut)

auth_blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth",
                     description="Signing in and out")
officials_blp = Blueprint("officials", __name__, url_prefix="/api/v1/officials",
                          description="Officials: the people who use the service, and their roles")
api_keys_blp = Blueprint("api_keys", __name__, url_prefix="/api/v1/api-keys",
                         description="API keys for integrations")

OfficialPage = page_schema(OfficialOut, "OfficialPage")
ApiKeyPage = page_schema(ApiKeyOut, "ApiKeyPage")
SessionPage = page_schema(SessionOut, "SessionPage")


@auth_blp.route("/token", methods=["POST"])
@auth_blp.public
@auth_blp.arguments(LoginIn)
@auth_blp.response(201, TokenOut)
@auth_blp.alt_response(401, description="Wrong username or password")
@auth_blp.alt_response(429, description="Locked after repeated failures; see Retry-After")
@auth_blp.alt_response(403, description="Password sign-in is switched off (PASSWORD_SIGN_IN=0)")
def create_token(data):
    """Sign in: exchange username, password and (once enrolled) a second factor for a bearer token"""
    config = current_app.config
    if not config["PASSWORD_SIGN_IN"]:
        raise Forbidden("Password sign-in is switched off here; sign in with single sign-on.",
                        code="password-sign-in-off")
    raw, token = logic.login(
        username=data["username"], password=data["password"],
        token_ttl_seconds=config["TOKEN_TTL_SECONDS"], max_failures=config["LOGIN_MAX_FAILURES"],
        lockout_seconds=config["LOGIN_LOCKOUT_SECONDS"], client_address=request.remote_addr,
        second_factor_code=data.get("code"), client=request.user_agent.string,
    )
    return {"access_token": raw, "token_type": "Bearer", "expires_at": token.expires_at,
            "second_factor_enrolment_required": (not token.second_factor
                                                 and second_factor.is_required(token.official.role))}


@auth_blp.route("/methods", methods=["GET"])
@auth_blp.public
@auth_blp.response(200, SignInMethodsOut)
def sign_in_methods():
    """The ways to sign in here, for a sign-in page to offer"""
    config = current_app.config
    return {"password": bool(config["PASSWORD_SIGN_IN"]), "oidc": bool(config.get("OIDC_ISSUER"))}


@auth_blp.route("/oidc/login", methods=["GET"])
@auth_blp.public
@auth_blp.response(302, description="To the OpenID provider's authorization endpoint")
@auth_blp.alt_response(404, description="Single sign-on is not configured")
def oidc_login():
    """Single sign-on: send the browser to the OpenID provider (code flow with PKCE)"""
    return oidc.start()


@auth_blp.route("/oidc/callback", methods=["GET"])
@auth_blp.public
@auth_blp.response(302, description="To OIDC_AFTER_SIGN_IN_URL, with `#access_token=&expires_at=` "
                                    "or `#sign_in_error=<reason>` in the fragment")
@auth_blp.alt_response(404, description="Single sign-on is not configured")
def oidc_callback():
    """Single sign-on: where the provider sends the browser back; signs the official in"""
    return redirect(oidc.finish(client=request.user_agent.string), code=302)


@auth_blp.route("/oidc/backchannel-logout", methods=["POST"])
@auth_blp.public
@auth_blp.arguments(LogoutTokenIn, location="form")
@auth_blp.response(200)
@auth_blp.alt_response(400, description="The logout token is not valid")
@auth_blp.alt_response(404, description="Single sign-on is not configured")
def oidc_backchannel_logout(data):
    """The provider ends a single sign-on session: its sessions here end (Back-Channel Logout 1.0)"""
    oidc.backchannel_logout(data["logout_token"])
    return "", 200, {"Cache-Control": "no-store"}


# The specification's format: the provider posts a form, not JSON.
oidc_backchannel_logout.accepts_content_types = ("application/x-www-form-urlencoded",)


@auth_blp.route("/oidc/frontchannel-logout", methods=["GET"])
@auth_blp.public
@auth_blp.arguments(FrontChannelLogoutQuery, location="query")
@auth_blp.response(200)
@auth_blp.alt_response(400, description="No `sid`, or another issuer's")
@auth_blp.alt_response(404, description="Single sign-on is not configured")
def oidc_frontchannel_logout(args):
    """The provider's logout page loads this: the sessions of its `sid` end (Front-Channel Logout 1.0)"""
    oidc.frontchannel_logout(issuer=args.get("iss"), sid=args.get("sid"))
    return "", 200, {"Cache-Control": "no-store"}


@auth_blp.route("/sessions", methods=["GET"])
@auth_blp.requires("session")
@auth_blp.arguments(PageArgs, location="query")
@auth_blp.response(200, SessionPage)
def list_sessions(args):
    """The caller's active sessions (bearer tokens), newest first"""
    return sessions.list_sessions(principal=current_principal(), **args)


@auth_blp.route("/sessions", methods=["DELETE"])
@auth_blp.requires("session")
@auth_blp.response(204)
def revoke_all_sessions():
    """End every session of the caller, this one included"""
    principal = current_principal()
    sessions.revoke_all(actor=principal, official_id=principal.id)


@auth_blp.route("/sessions/<int:session_id>", methods=["DELETE"])
@auth_blp.requires("session")
@auth_blp.response(204)
def revoke_session(session_id):
    """End one of the caller's sessions"""
    sessions.revoke_one(principal=current_principal(), session_id=session_id)


@auth_blp.route("/second-factor", methods=["GET"])
@auth_blp.requires("session")
@auth_blp.response(200, SecondFactorOut)
def second_factor_status():
    """Whether the caller has a second factor, and whether their role requires one"""
    return second_factor.status(current_principal())


@auth_blp.route("/second-factor/totp", methods=["POST"])
@auth_blp.requires("session")
@auth_blp.response(201, TotpEnrolmentOut)
def start_totp_enrolment():
    """Start enrolling an authenticator app: a new secret and its QR code, pending until confirmed"""
    return second_factor.start_enrolment(current_principal())


@auth_blp.route("/second-factor/totp/confirm", methods=["POST"])
@auth_blp.requires("session")
@auth_blp.arguments(CodeIn)
@auth_blp.response(200, RecoveryCodesOut)
@auth_blp.alt_response(409, description="No enrolment was started")
def confirm_totp_enrolment(data):
    """Confirm the pending app with one of its codes; returns recovery codes, shown once"""
    return {"recovery_codes": second_factor.confirm_enrolment(current_principal(), data["code"])}


@auth_blp.route("/second-factor/recovery-codes", methods=["POST"])
@auth_blp.requires("session")
@auth_blp.arguments(CodeIn)
@auth_blp.response(201, RecoveryCodesOut)
@auth_blp.alt_response(409, description="No authenticator app is enrolled")
@auth_blp.alt_response(429, description="Locked after repeated wrong codes; see Retry-After")
def renew_recovery_codes(data):
    """Replace the recovery codes (the old ones stop working); needs a current code"""
    return {"recovery_codes": second_factor.renew_recovery_codes(current_principal(), data["code"])}


@auth_blp.route("/second-factor/remove", methods=["POST"])
@auth_blp.requires("session")
@auth_blp.arguments(CodeIn)
@auth_blp.response(204)
@auth_blp.alt_response(409, description="Nothing enrolled, or the role requires a second factor")
@auth_blp.alt_response(429, description="Locked after repeated wrong codes; see Retry-After")
def remove_second_factor(data):
    """Remove the caller's authenticator app and recovery codes; needs a current code"""
    second_factor.remove_own(current_principal(), data["code"])


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


@officials_blp.route("/<int:official_id>/sessions", methods=["DELETE"])
@officials_blp.requires("officials.manage")
@officials_blp.response(204)
def revoke_official_sessions(official_id):
    """End every session of an official"""
    sessions.revoke_all(actor=current_principal(), official_id=officials.get_official(official_id).id)


@officials_blp.route("/<int:official_id>/second-factor", methods=["DELETE"])
@officials_blp.requires("officials.manage")
@officials_blp.response(204)
def reset_official_second_factor(official_id):
    """Remove an official's authenticator app and recovery codes (a lost device); ends their sessions"""
    second_factor.reset_for(current_principal(), officials.get_official(official_id))


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
