"""Step failures an operator can act on.

carrier_opt's own errors (:class:`~carrier_opt.errors.CarrierOptError`: bad input, a missing
setting, the carrier refusing the credentials, a session still running) are written as one
sentence with the cause and the fix. Raised as they are, Dagster shows them under its generic
"Error occurred while executing op" with a stack trace; raised as :class:`dagster.Failure`,
the step failure on the run page *is* that sentence. Anything else (a bug) keeps its trace.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import dagster as dg

from carrier_opt.errors import CarrierOptError

F = TypeVar("F", bound=Callable[..., Any])


def operator_failures(compute: F) -> F:
    """Turn the asset's own errors into a :class:`dagster.Failure` carrying the sentence (and
    the error's class, as metadata). Retries (where the asset has a ``RetryPolicy``) only for
    a carrier error that says it is transient; running again changes nothing for the rest."""

    @functools.wraps(compute)
    def asset_body(*args: Any, **kwargs: Any) -> Any:
        try:
            return compute(*args, **kwargs)
        except CarrierOptError as exc:
            raise dg.Failure(
                description=str(exc),
                metadata={"error": type(exc).__name__},
                allow_retries=bool(getattr(exc, "retryable", False)),
            ) from None

    return asset_body  # type: ignore[return-value]


def step_failure_text(failure: Any) -> tuple[str, str | None]:
    """(one readable message, the error's class name) of a step's ``StepFailureData``: the
    sentence of an operator failure, else the user code's error."""
    user = failure.user_failure_data
    if user is not None and user.description:
        error_class = user.metadata.get("error")
        return user.description, getattr(error_class, "value", None)
    error = failure.error
    if error is None:
        return "the step failed (see the Dagster logs)", None
    cause = error.cause or error
    return cause.to_string(), cause.cls_name
