"""Channel adapters: each turns a provider's input into ``service.intake.InboundMessage`` and
delivers outbound messages. Provider details (Twilio, MIME, webhook signatures) live here and
nowhere in ``service``."""
