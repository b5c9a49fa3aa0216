"""Contact-volume statistics: anonymous facts kept past the purge, rolled up per local day."""
