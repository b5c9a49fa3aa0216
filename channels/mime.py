"""Reading a raw RFC 5322 message into the service's InboundMessage.

Real mail is messy: wrong charset labels, 8-bit headers, HTML-only bodies, bounces. Parsing
never raises on content; only a message with no sender, or one built to exhaust the parser
(too many parts, nested too deep), is refused.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser

from service.intake import InboundAttachment, InboundMessage, Sender

MAX_PARTS = 100
MAX_DEPTH = 10
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


class UnreadableMessage(ValueError):
    pass


@dataclass(frozen=True)
class ParsedEmail:
    message: InboundMessage
    automatic: bool  # an auto-reply, bounce or bulk mail: never opens a case, never answered
    refused_files: tuple[tuple[str, str, int], ...]  # (filename, content type, size) kept as metadata


class _TextFromHtml(HTMLParser):
    """Visible text of an HTML body; scripts, styles and markup are dropped."""

    _SKIP = {"script", "style", "head", "title"}
    _BREAKS = {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skipping:
            self.parts.append(data)

    def text(self) -> str:
        joined = "".join(self.parts)
        lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in joined.split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    parser = _TextFromHtml()
    parser.feed(html)
    parser.close()
    return parser.text()


def _decoded_text(part: EmailMessage) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeError, AssertionError):
        # An unknown or wrong charset label: keep the text readable rather than lose it.
        payload = part.get_payload(decode=True) or b""
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            return payload.decode("windows-1252", errors="replace")


def _check_structure(message: EmailMessage) -> None:
    count = 0

    def walk(part, depth):
        nonlocal count
        count += 1
        if count > MAX_PARTS or depth > MAX_DEPTH:
            raise UnreadableMessage("The message has too many or too deeply nested parts.")
        if part.is_multipart():
            for child in part.get_payload():
                walk(child, depth + 1)

    walk(message, 0)


def _clean(text: str | None) -> str:
    """Undo the parser's surrogate escapes of raw 8-bit header bytes: read them as UTF-8, as
    mail clients send them, else as Windows-1252."""
    if not text:
        return ""
    raw = text.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("windows-1252", errors="replace")


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):  # malformed header the policy cannot parse
        value = message.get_all(name, failobj=[None])[0] if hasattr(message, "get_all") else None
    return _clean(str(value or "")).strip()


def is_automatic(message: EmailMessage, sender: str) -> bool:
    auto = _header(message, "Auto-Submitted").lower()
    precedence = _header(message, "Precedence").lower()
    return bool(
        (auto and auto != "no")
        or precedence in ("bulk", "junk", "list", "auto_reply")
        or message.get_content_type() == "multipart/report"
        or _header(message, "X-Autoreply") or _header(message, "X-Autorespond")
        or sender.lower().startswith(("mailer-daemon@", "postmaster@"))
        or _header(message, "Return-Path") == "<>"
    )


def _file_parts(message: EmailMessage, body_part):
    """Every leaf part that is a file, at any depth: attachments and inline images. Text
    parts without a file name (the body, its HTML alternative, report texts) are not files."""
    for part in message.walk():
        if part is body_part or part.is_multipart() or part.get_content_maintype() == "message":
            continue
        if part.get_filename() or part.get_content_maintype() not in ("text",):
            yield part


def parse(raw: bytes, *, max_attachment_bytes: int, accepted_types: frozenset[str]) -> ParsedEmail:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    _check_structure(message)
    try:
        addresses = message["From"].addresses if message["From"] else ()
    except (AttributeError, IndexError, ValueError, TypeError):
        addresses = ()
    if not addresses or not addresses[0].addr_spec or "@" not in addresses[0].addr_spec:
        raise UnreadableMessage("The message has no From address.")
    sender = addresses[0]
    message_id_header = _header(message, "Message-ID")
    ids = _MESSAGE_ID.findall(message_id_header)
    # Without a Message-ID the content itself is the identity, so a redelivery still matches.
    message_id = ids[0] if ids else "<sha256-" + hashlib.sha256(raw).hexdigest() + "@no-message-id>"
    replies_to = tuple(dict.fromkeys(
        _MESSAGE_ID.findall(_header(message, "In-Reply-To")) + list(reversed(_MESSAGE_ID.findall(_header(message, "References"))))
    ))[:50]

    body_part = message.get_body(preferencelist=("plain", "html"))
    body = ""
    if body_part is not None:
        text = _decoded_text(body_part)
        text = _clean(text)
        body = html_to_text(text) if body_part.get_content_type() == "text/html" else text.strip()

    attachments, refused = [], []
    for part in _file_parts(message, body_part):
        try:
            content = part.get_payload(decode=True) or b""
        except Exception:
            content = b""
        filename = _clean(part.get_filename()) or "attachment"
        content_type = part.get_content_type()
        if len(content) > max_attachment_bytes or content_type not in accepted_types or not content:
            refused.append((filename[:255], content_type[:127], len(content)))
        else:
            attachments.append(InboundAttachment(filename=filename, content_type=content_type, content=content))

    to_header = _header(message, "To")
    try:
        to = message["To"].addresses[0].addr_spec if message["To"] and message["To"].addresses else None
    except (AttributeError, IndexError, ValueError, TypeError):
        to = None
    inbound = InboundMessage(
        channel="email", external_id=message_id[:255],
        sender=Sender(email=_clean(sender.addr_spec)[:254], name=_clean(sender.display_name)[:200] or None),
        to=_clean(to or to_header)[:254] or None,
        subject=_header(message, "Subject")[:500] or None, body=body[:100_000],
        received_at=datetime.now(timezone.utc), attachments=tuple(attachments), in_reply_to=replies_to,
    )
    return ParsedEmail(message=inbound, automatic=is_automatic(message, sender.addr_spec),
                       refused_files=tuple(refused))
