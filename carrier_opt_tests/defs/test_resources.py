"""Resources: progress milestones reach the platform API; a failing one never stops a run."""

import logging

import pytest

from carrier_opt.defs.resources import PlatformProgress


def test_progress_posts_each_milestone(httpserver):
    httpserver.expect_request("/progress", method="POST").respond_with_json({"ok": True})
    progress = PlatformProgress(url=httpserver.url_for("/progress"))
    for percent in (0, 20, 30, 40, 50, 100):
        progress.report("guid-1", percent, f"at {percent}")
    bodies = [request.get_json() for request, _ in httpserver.log]
    assert [body["progress"] for body in bodies] == [0, 20, 30, 40, 50, 100]
    assert {body["sessionGuid"] for body in bodies} == {"guid-1"}


def test_progress_failure_is_logged_not_raised(httpserver, caplog):
    httpserver.expect_request("/progress").respond_with_data("down", status=503)
    progress = PlatformProgress(url=httpserver.url_for("/progress"))
    with caplog.at_level(logging.WARNING):
        progress.report("guid-2", 50, "optimization calculated")
    assert "not delivered" in caplog.text


def test_progress_without_url_makes_no_call(httpserver):
    PlatformProgress().report("guid-3", 0, "session started")
    assert httpserver.log == []


@pytest.mark.parametrize("deployment", ["staging", "PROD"])
def test_unknown_deployment_is_refused(deployment):
    from carrier_opt.defs.resources import resources_for

    with pytest.raises(ValueError, match="CARRIER_OPT_DEPLOYMENT"):
        resources_for(deployment)
