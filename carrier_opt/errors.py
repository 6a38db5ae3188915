"""One exception hierarchy for the whole project.

Every error a user can meet derives from :class:`CarrierOptError`, so the command line and the
Dagster assets can turn it into one clear line instead of a traceback.
"""

from __future__ import annotations


class CarrierOptError(Exception):
    """Base class of every error carrier_opt raises on purpose."""


class InputError(CarrierOptError):
    """Bad input: a file, row, field or setting the user has to correct."""


class ConfigurationError(CarrierOptError):
    """A setting (environment variable, URL, resource config) is missing or unusable."""


class DatabaseError(CarrierOptError):
    """The database cannot be reached or is not in the state the project needs."""


class CarrierApiError(CarrierOptError):
    """The carrier API answered with a final error.

    Carries what an operator needs to act on it: HTTP status, the carrier's error code and
    message. Never the request's credentials.
    """

    def __init__(
        self, message: str, *, status: int | None = None, error_code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
