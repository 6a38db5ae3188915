"""The database backend dies mid-merge (issue 14): ``pg_terminate_backend`` on the sync's own
connection after the merge has inserted and updated SIMs. The transaction is lost with the
connection, so ``Device`` is exactly as before; the next sync converges on the carrier."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from carrier_opt.db import merge as merge_module
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.pipeline.sync import sync_provider
from carrier_opt_tests.db.sync_support import (
    add_fake_provider,
    assert_device_matches_fleet,
    device_state,
)
from carrier_opt_tests.jasper.support import client_for

pytestmark = pytest.mark.reliability


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # PostgreSQL's own
def test_a_backend_terminated_mid_merge_leaves_device_as_it_was(
    migrated_engine, database_url, monkeypatch
):
    real_apply_usage = merge_module.apply_usage
    terminated: list[int] = []

    def terminate_then_apply(connection, *args, **kwargs):
        # The merge's inserts and updates ran in this transaction: kill its backend now.
        pid = connection.execute(text("select pg_backend_pid()")).scalar_one()
        with migrated_engine.connect() as other:
            other.execute(text("select pg_terminate_backend(:pid)"), {"pid": pid})
        terminated.append(pid)
        return real_apply_usage(connection, *args, **kwargs)

    with FakeJasper(devices=400, seed=21) as fake:
        add_fake_provider(migrated_engine, fake)
        sync_provider(migrated_engine, "acme", client=client_for(fake))
        before = device_state(migrated_engine)
        editor = client_for(fake)
        for iccid in sorted(before)[:9]:
            editor.edit_device(iccid, rate_plan="Pay As You Go")
        with monkeypatch.context() as patch:
            patch.setattr(merge_module, "apply_usage", terminate_then_apply)
            with pytest.raises(Exception, match=r"(?i)terminat|closed|connection") as lost:
                sync_provider(migrated_engine, "acme", client=client_for(fake))
        assert terminated and "OperationalError" in type(lost.value).__name__ + repr(lost.value)
        assert device_state(migrated_engine) == before  # nothing of the merge survived
        report = sync_provider(migrated_engine, "acme", client=client_for(fake))
        assert_device_matches_fleet(migrated_engine, fake)
    assert report.merge.updated >= 9
