"""Shared utilities that every layer may use and that know nothing of surveys or models:
the exception family, atomic file writes, settings validation, log-odds, progress bars
and lazy re-exports."""
