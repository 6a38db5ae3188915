"""``fake-jasper`` prints where it serves and what it accepts, then stops cleanly on Ctrl-C."""

from __future__ import annotations

import pytest
import requests
from click.testing import CliRunner

from carrier_opt.cli import fake_jasper as cli
from carrier_opt.jasper.fake import FakeJasper


def test_fake_jasper_serves_until_interrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: list[dict] = []

    def one_call_then_ctrl_c(fake: FakeJasper) -> None:
        url = fake.base_url + "echo/hi"
        answers.append(requests.get(url, auth=("u", "k"), timeout=5).json())
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "wait_for_interrupt", one_call_then_ctrl_c)
    result = CliRunner().invoke(
        cli.fake_jasper,
        ["--port", "0", "--devices", "20", "--username", "u", "--api-key", "k"],
    )

    assert result.exit_code == 0, result.output
    assert answers == [{"context": "hi"}]
    assert "at http://127.0.0.1:" in result.output and "/rws/api/v1/" in result.output
    assert "username 'u', API key 'k'" in result.output
    assert "stopped after 1 calls" in result.output


def test_fake_jasper_refuses_impossible_fault_rates() -> None:
    result = CliRunner().invoke(cli.fake_jasper, ["--port", "0", "--error-rate", "1.5"])
    assert result.exit_code != 0
    assert "between 0 and 1" in result.output
