"""WSGI entry point and composition root: ``gunicorn wsgi:app`` or ``flask --app wsgi ...``.
RQ workers build the application from here too (``service.jobs``)."""

import gc

import channels
from service import create_app

app = create_app(plugins=[channels.install])

# Everything built so far lives as long as the process. Frozen, the collector stops walking it
# on every full collection: a statistics request that allocates thousands of rows otherwise
# pays for tens of milliseconds of walking the whole application (measured in bench/stats.py).
gc.freeze()
