"""WSGI entry point and composition root: ``gunicorn wsgi:app`` or ``flask --app wsgi ...``.
RQ workers build the application from here too (``service.jobs``)."""

import channels
from service import create_app

app = create_app(plugins=[channels.install])
