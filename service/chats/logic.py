"""Chats: started by a widget, answered by advisers, one contact on a case.

An anonymous chat stores no identity of the customer at all: no customer record, no name,
no address, and the client's network address is not kept either.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from ..audit.logic import record
from ..auth.permissions import Principal
from ..cases.logic import handled_by_official, move, touch
from ..cases.models import OPEN, WAITING, Case
from ..db_types import utcnow
from ..errors import Conflict, NotFound
from ..extensions import db
from ..intake import InboundMessage, IntakeSettings, Sender, receive
from ..lines.logic import line_for_address, visible_line_ids
from ..pagination import paginate
from ..storage import FileStorage
from .models import Chat, ChatMessage
from .waits import RETRY_AFTER_SECONDS, WaitingRoom, announce

TOKEN_PREFIX = "cct_"
CUSTOMER, OFFICIAL = "customer", "official"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class StartedChat:
    chat: Chat
    token: str


def start_chat(*, anonymous: bool, name: str | None, email: str | None, language: str | None,
               widget_id: str | None, settings: IntakeSettings, storage: FileStorage, token_ttl_seconds: int,
               now: datetime | None = None) -> StartedChat:
    now = now or utcnow()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    sender = Sender() if anonymous else Sender(email=email, name=name)
    message = InboundMessage(channel="chat", external_id="chat-" + secrets.token_hex(12), sender=sender,
                             to=widget_id, language=language, started_at=now)
    holder = {}

    def add_chat(result):
        chat = Chat(contact_id=result.contact_id, case_id=result.case_id, token_hash=_digest(token),
                    anonymous=anonymous, language=language, started_at=now,
                    token_expires_at=now + timedelta(seconds=token_ttl_seconds))
        db.session.add(chat)
        holder["chat"] = chat

    receive(message, actor=None, settings=settings, storage=storage, now=now, on_stored=add_chat)
    return StartedChat(chat=holder["chat"], token=token)


def principal_for_token(token: str, *, now: datetime | None = None) -> Principal | None:
    """The chat customer behind a chat token; None when unknown or expired."""
    now = now or utcnow()
    chat = db.session.scalar(select(Chat).where(Chat.token_hash == _digest(token)))
    if chat is None or chat.token_expires_at <= now:
        return None
    return Principal(kind="chat", id=chat.id, name="chat customer")


def get_chat(chat_id: int) -> Chat:
    chat = db.session.get(Chat, chat_id)
    if chat is None:
        raise NotFound(f"Chat {chat_id} does not exist.")
    return chat


def _author(actor: Principal) -> str:
    return CUSTOMER if actor.kind == "chat" else OFFICIAL


def _check_line(actor: Principal, chat: Chat) -> None:
    """An official sees a chat only when they may see its case (advisers: their lines)."""
    if actor.kind != "chat":
        from ..cases.logic import load_case

        load_case(actor=actor, case_id=chat.case_id)


def post_message(*, actor: Principal, chat_id: int, body: str, now: datetime | None = None) -> ChatMessage:
    chat = db.session.scalar(select(Chat).where(Chat.id == chat_id).with_for_update())
    if chat is None:
        raise NotFound(f"Chat {chat_id} does not exist.")
    _check_line(actor, chat)
    if chat.ended_at is not None or chat.contact.case.status == "closed":
        raise Conflict("The chat has ended; start a new one.", code="chat-ended")
    now = now or utcnow()
    author = _author(actor)
    message = ChatMessage(chat=chat, author=author, official_id=actor.id if author == OFFICIAL else None,
                          body=body, created_at=now)
    db.session.add(message)
    case = chat.contact.case
    if author == OFFICIAL:
        _joined(chat, actor, now)
    elif case.status == WAITING:
        move(case, OPEN)
    touch(case, now)
    db.session.commit()
    announce(chat_id)
    return message


def _joined(chat: Chat, official: Principal, now: datetime) -> None:
    contact = chat.contact
    if contact.handled_by_id is None:
        contact.handled_by_id = official.id
    if contact.answered_at is None:
        contact.answered_at = now
    handled_by_official(contact.case, now)


def join(*, actor: Principal, chat_id: int) -> Chat:
    # Locked, so that of two advisers pressing Join at once exactly one takes the chat.
    chat = db.session.scalar(select(Chat).where(Chat.id == chat_id).with_for_update())
    if chat is None:
        raise NotFound(f"Chat {chat_id} does not exist.")
    _check_line(actor, chat)
    if chat.ended_at is not None:
        raise Conflict("The chat has ended.", code="chat-ended")
    taken_by = chat.contact.handled_by_id
    if taken_by is not None and taken_by != actor.id:
        raise Conflict("Another adviser has already joined this chat.", code="chat-taken")
    _joined(chat, actor, utcnow())
    record("contact.updated", actor=actor, object_type="case", object_id=chat.case_id,
           details={"contact_id": chat.contact_id, "chat": "joined"})
    db.session.commit()
    return chat


@dataclass(frozen=True)
class Messages:
    items: list[ChatMessage]
    ended: bool
    # Seconds to come back after, when the long poll found no seat to wait in.
    retry_after: int | None = None


def messages_after(*, actor: Principal, chat_id: int, after: int, wait_seconds: float = 0,
                   room: WaitingRoom | None = None, address: str | None = None, limit: int = 100) -> Messages:
    """Messages with an id above ``after``; with ``wait_seconds`` and a ``room``, waits for one
    (long poll) if there is a seat for it (``waits``)."""
    chat = get_chat(chat_id)
    _check_line(actor, chat)
    if actor.kind != "chat":
        record("case.read", actor=actor, object_type="case", object_id=chat.case_id, details={"chat_id": chat_id})
        db.session.commit()
    found, ended = _look(chat_id, after, limit)
    if found or ended or wait_seconds <= 0 or room is None:
        return Messages(found, ended)
    customer = actor.kind == "chat"
    db.session.rollback()
    with room.seat(chat_id, address=address if customer else None, customer=customer) as changed:
        if changed is None:
            return Messages(found, ended, retry_after=RETRY_AFTER_SECONDS)
        deadline = time.monotonic() + wait_seconds
        while True:
            # Seated first, then looked: a message committed after the look wakes ``changed``.
            found, ended = _look(chat_id, after, limit)
            remaining = deadline - time.monotonic()
            if found or ended or remaining <= 0 or room.closed:
                return Messages(found, ended)
            # Waiting holds no connection or lock, and the next look sees rows committed meanwhile.
            db.session.rollback()
            changed.wait(min(remaining, room.recheck_seconds))
            changed.clear()


def _look(chat_id: int, after: int, limit: int) -> tuple[list[ChatMessage], bool]:
    found = list(db.session.scalars(
        select(ChatMessage).where(ChatMessage.chat_id == chat_id, ChatMessage.id > after)
        .order_by(ChatMessage.id).limit(limit)))
    ended = db.session.scalar(select(Chat.ended_at).where(Chat.id == chat_id)) is not None
    return found, ended


def end_chat(*, actor: Principal, chat_id: int, now: datetime | None = None) -> Chat:
    chat = db.session.scalar(select(Chat).where(Chat.id == chat_id).with_for_update())
    if chat is None:
        raise NotFound(f"Chat {chat_id} does not exist.")
    _check_line(actor, chat)
    if chat.ended_at is not None:
        return chat
    now = now or utcnow()
    chat.ended_at = now
    contact = chat.contact
    contact.ended_at = now
    contact.body = transcript(chat)
    touch(contact.case, now)
    if actor.kind != "chat":
        record("contact.updated", actor=actor, object_type="case", object_id=chat.case_id,
               details={"contact_id": chat.contact_id, "chat": "ended"})
    db.session.commit()
    announce(chat_id)
    return chat


def transcript(chat: Chat) -> str:
    lines = []
    for message in chat.messages:
        who = "Asiakas / Kund / Customer" if message.author == CUSTOMER else (
            message.official.name if message.official else "Official")
        lines.append(f"[{message.created_at:%Y-%m-%d %H:%M:%S} UTC] {who}: {message.body}")
    return "\n".join(lines)


@dataclass(frozen=True)
class WidgetSettings:
    widget_id: str
    service_line: str
    default_language: str
    privacy_notice_url: str | None


def widget_settings(*, widget_id: str, region: str) -> WidgetSettings:
    """What the widget shows before a chat starts: the line a chat from it goes to (unknown
    widgets go to the default line, as their chats do) and that register's privacy notice."""
    # An id no line could have (too long, control characters) is simply unknown.
    known = widget_id if len(widget_id) <= 100 and widget_id.isprintable() else ""
    line = line_for_address("chat", known or None, region)
    settings = WidgetSettings(widget_id=known, service_line=line.name, default_language=line.default_language,
                              privacy_notice_url=line.privacy_notice_url)
    # The default line may have just been created for this look-up.
    db.session.commit()
    return settings


def list_chats(*, actor: Principal, page: int, page_size: int, active: bool | None = None):
    query = select(Chat).order_by(Chat.started_at.desc(), Chat.id.desc())
    line_ids = visible_line_ids(actor)
    if line_ids is not None:
        query = query.join(Case, Chat.case_id == Case.id).where(Case.service_line_id.in_(line_ids))
    if active is True:
        query = query.where(Chat.ended_at.is_(None))
    elif active is False:
        query = query.where(Chat.ended_at.is_not(None))
    return paginate(query, page=page, page_size=page_size)
