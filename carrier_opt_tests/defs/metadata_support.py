"""What every asset page's metadata must look like, checked on a run's materializations and
check evaluations (issue 28, point 6: one form for money)."""

import re

import dagster as dg

MONEY_WORDS = re.compile(r"cost|saving|lower_bound|bill|price|usd")
"""A metadata name with one of these words names an amount of money (tables aside)."""

NOT_AMOUNTS = (dg.MarkdownMetadataValue, dg.JsonMetadataValue)


def money_entries(result: dg.ExecuteInProcessResult) -> dict[str, dg.MetadataValue]:
    """Every money-named entry of the run's materializations and check evaluations, by
    ``asset.name`` (``asset:check.name`` for a check)."""
    entries: dict[str, dg.MetadataValue] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        for name, value in materialization.metadata.items():
            entries[f"{materialization.asset_key.to_user_string()}.{name}"] = value
    for evaluation in result.get_asset_check_evaluations():
        for name, value in evaluation.metadata.items():
            entries[f"{evaluation.asset_check_key.to_user_string()}.{name}"] = value
    return {
        name: value
        for name, value in entries.items()
        if MONEY_WORDS.search(name.rsplit(".", 1)[1])
        and not name.endswith("_pct")
        and not isinstance(value, NOT_AMOUNTS)
    }


def assert_money_in_one_form(result: dg.ExecuteInProcessResult) -> int:
    """Every amount is a float to the cent under a name ending in ``_usd``, never text and
    never a second entry beside it; answers how many amounts were checked."""
    entries = money_entries(result)
    for name, value in entries.items():
        assert name.endswith("_usd"), name
        assert isinstance(value, dg.FloatMetadataValue), (name, value)
        assert round(value.value, 2) == value.value, (name, value.value)
    return len(entries)
