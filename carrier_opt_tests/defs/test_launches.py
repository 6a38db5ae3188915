"""Launches Dagster lets through to the first step get one line that says what to do (issue 15:
they used to end in "no service provider named '2026-11'" or DagsterInvariantViolationError)."""

import dagster as dg
import pytest

from carrier_opt.defs.partitions import launched_partition, partition_key
from carrier_opt.errors import InputError


def test_a_partition_gives_its_provider_and_period_as_key_or_text():
    assert launched_partition(partition_key("acme", "2026-11")) == ("acme", "2026-11")
    assert launched_partition("2026-11|acme") == ("acme", "2026-11")
    assert launched_partition("2026-11|O'Brien Telecom") == ("O'Brien Telecom", "2026-11")


def test_a_launch_without_a_partition_says_how_to_launch_one():
    with pytest.raises(InputError, match=r"launch it for a partition .* e\.g\. 2026-11\|acme"):
        launched_partition(None)


def test_swapped_halves_are_named_with_the_right_key():
    swapped = dg.MultiPartitionKey({"service_provider": "2026-11", "billing_period": "acme"})
    with pytest.raises(InputError, match=r"reads acme\|2026-11 the wrong way round.*2026-11\|acme"):
        launched_partition(swapped)
