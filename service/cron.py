"""Periodic jobs for RQ's built-in cron: ``rq cron service.cron --url $REDIS_URL``.

The sweepers are what make the outbox and landed inbound messages reliable: retries whose
time has come, rows whose job was lost with Redis, and rows whose worker died are all found
here again.
"""

from rq import cron

from service.jobs import (delete_provider_copies, purge_expired, roll_up_statistics, seal_audit_log, sweep_inbound,
                          sweep_outbox, sweep_scans)

cron.register(sweep_outbox, queue_name="default", interval=60)
cron.register(sweep_inbound, queue_name="default", interval=60)
# Files whose scan waits: clamd was down, or a scan failed and is due again.
cron.register(sweep_scans, queue_name="default", interval=60)
# RQ 3 reads cron strings in the worker machine's local time zone.
cron.register(purge_expired, queue_name="default", cron="30 2 * * *", job_timeout=3600)
# Provider copies the purge could not delete at once (Twilio down) are tried again.
cron.register(delete_provider_copies, queue_name="default", interval=600)
cron.register(seal_audit_log, queue_name="default", interval=60)
cron.register(roll_up_statistics, queue_name="default", interval=60)
