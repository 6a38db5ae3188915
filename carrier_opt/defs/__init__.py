"""Dagster definitions, kept thin: each body calls core/, db/, jasper/ or delivery/."""
