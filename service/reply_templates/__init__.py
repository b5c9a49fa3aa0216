"""Reply templates: standard answers kept per service line and language, filled from a case."""
