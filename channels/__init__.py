"""Channel adapters (and the malware scanner's, ``clamd``): each channel turns a provider's input into ``service.intake.InboundMessage`` and
delivers outbound messages through the outbox's ``Sender`` port. Provider details (Twilio,
MIME, webhook signatures) live here and nowhere in ``service``."""

from flask import Flask


def install(app: Flask) -> None:
    """Install every channel adapter; passed to ``create_app`` by the composition root."""
    from . import clamd, email, sms, voice

    clamd.install(app)
    email.install(app)
    sms.install(app)
    voice.install(app)
