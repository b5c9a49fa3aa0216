from flask import current_app, request

from ..auth.guard import TOKEN_RESOLVERS, current_principal
from ..blueprint import Blueprint
from ..intake import IntakeSettings
from ..pagination import page_schema
from ..ratelimit import limit_per_client
from ..storage import get_storage
from . import logic
from .schemas import (ChatMessageIn, ChatMessageOut, ChatMessagesOut, ChatMessagesQuery, ChatOut, ChatQuery,
                      ChatStartedOut, ChatStartIn, WidgetSettingsOut)
from .waits import waiting_room

blp = Blueprint("chats", __name__, url_prefix="/api/v1/chats",
                description="Chats: the widget starts one and gets a token for it; advisers join and answer")

TOKEN_RESOLVERS[logic.TOKEN_PREFIX] = logic.principal_for_token


@blp.after_request
def allow_embedding_pages(response):
    """The chat widget runs on the authority's own pages, another origin than the service's.
    Any page may call these endpoints: the customer's token is a bearer header held in the
    page's memory, never a cookie, so another site's page can do nothing with a visitor's
    chat that it could not do with a chat of its own."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    response.headers["Access-Control-Allow-Methods"] = "GET, POST"
    response.headers["Access-Control-Expose-Headers"] = "Retry-After"
    response.headers["Access-Control-Max-Age"] = "600"
    return response


@blp.route("/widgets/<widget_id>", methods=["GET"])
@blp.public
@blp.response(200, WidgetSettingsOut)
def widget_settings(widget_id):
    """What the chat widget shows before a chat: its line and the line's privacy notice"""
    limit_per_client("chat-widget", per_minute=current_app.config["PUBLIC_RATE_LIMIT_PER_MINUTE"])
    return logic.widget_settings(widget_id=widget_id, region=current_app.config["DEFAULT_PHONE_REGION"])
ChatPage = page_schema(ChatOut, "ChatPage")


@blp.route("", methods=["POST"])
@blp.public
@blp.arguments(ChatStartIn)
@blp.response(201, ChatStartedOut)
def start_chat(data):
    """Start a chat (the chat widget; anonymous or with a name and email)"""
    limit_per_client("chat-start", per_minute=current_app.config["PUBLIC_RATE_LIMIT_PER_MINUTE"])
    config = current_app.config
    started = logic.start_chat(anonymous=data["anonymous"], name=data.get("name"), email=data.get("email"),
                               language=data.get("language"), widget_id=data.get("widget_id"),
                               settings=IntakeSettings.from_config(config), storage=get_storage(),
                               token_ttl_seconds=config["CHAT_TOKEN_TTL_SECONDS"])
    chat = started.chat
    return {"chat_id": chat.id, "case_id": chat.case_id, "token": started.token, "expires_at": chat.token_expires_at}


@blp.route("", methods=["GET"])
@blp.requires("cases.read")
@blp.arguments(ChatQuery, location="query")
@blp.response(200, ChatPage)
def list_chats(args):
    """Chats, newest first; `active=true` for those still going"""
    return logic.list_chats(actor=current_principal(), **args)


@blp.route("/<int:chat_id>/messages", methods=["GET"])
@blp.requires("cases.read", chat_customer=True)
@blp.arguments(ChatMessagesQuery, location="query")
@blp.response(200, ChatMessagesOut, headers={"Retry-After": {
    "description": "Seconds to wait before polling again; only when the long poll was not let wait",
    "schema": {"type": "integer"}}})
def read_messages(args, chat_id):
    """Messages after a cursor; `wait` long-polls for the next one (customer token or adviser).

    A long poll that finds the server's waiting room full is answered at once, with
    `Retry-After` (seconds) saying when to poll again."""
    result = logic.messages_after(actor=current_principal(), chat_id=chat_id, after=args["after"],
                                  wait_seconds=args["wait"], room=waiting_room(), address=request.remote_addr)
    if result.retry_after is not None:
        return result, 200, {"Retry-After": str(result.retry_after)}
    return result


@blp.route("/<int:chat_id>/messages", methods=["POST"])
@blp.requires("cases.write", chat_customer=True)
@blp.arguments(ChatMessageIn)
@blp.response(201, ChatMessageOut)
def post_message(data, chat_id):
    """Write in the chat (customer token or adviser)"""
    return logic.post_message(actor=current_principal(), chat_id=chat_id, body=data["body"])


@blp.route("/<int:chat_id>/join", methods=["POST"])
@blp.requires("cases.write")
@blp.response(200, ChatOut)
def join_chat(chat_id):
    """An adviser takes the chat"""
    return logic.join(actor=current_principal(), chat_id=chat_id)


@blp.route("/<int:chat_id>/end", methods=["POST"])
@blp.requires("cases.write", chat_customer=True)
@blp.response(200, ChatOut)
def end_chat(chat_id):
    """End the chat; the transcript is kept on the case's contact"""
    return logic.end_chat(actor=current_principal(), chat_id=chat_id)
