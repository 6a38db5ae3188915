"""The provider every sync benchmark adds: the fake carrier's calendar months in UTC, its
credentials read from the environment as a real provider's are."""

from __future__ import annotations

import os

from sqlalchemy import Engine

USER_ENV, KEY_ENV = "BENCH_JASPER_USER", "BENCH_JASPER_KEY"


def add_fake_provider(engine: Engine, fake, name: str = "bench") -> int:
    """Add ``name`` pointing at ``fake`` (credentials put in the environment); answers its id."""
    from carrier_opt.db.providers import add_provider

    os.environ[USER_ENV], os.environ[KEY_ENV] = fake.credentials
    return add_provider(
        engine,
        name,
        jasper_url=fake.base_url,
        billing_cycle_end_day=31,
        billing_cycle_end_rule="after_end_day",
        time_zone="UTC",
        username_env=USER_ENV,
        api_key_env=KEY_ENV,
    )
