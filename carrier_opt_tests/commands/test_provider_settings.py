"""``carrier-opt provider list | show | set``: every setting of provider add can be read back
and changed, a bad value changes nothing, and no credential is ever shown."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from carrier_opt.cli import cli
from carrier_opt.db.models import JasperAuthentication, ServiceProvider


def run(database_url: str, *args: str):
    return CliRunner().invoke(cli, [*args, "--database-url", database_url])


@pytest.fixture
def acme(migrated_engine, database_url, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # no Dagster instance to register in
    added = run(
        database_url,
        "provider",
        "add",
        "acme",
        "--jasper-url",
        "https://jasper.example.com/rws/api/v1/",
        "--billing-cycle-end-day",
        "18",
        "--timezone",
        "America/Chicago",
        "--optimization-start-hour",
        "8",
    )
    assert added.exit_code == 0, added.output
    return "acme"


def settings(engine) -> tuple:
    """(ServiceProvider row, JasperAuthentication row) of the one provider."""
    with engine.connect() as connection:
        return (
            connection.execute(select(ServiceProvider.__table__)).one(),
            connection.execute(select(JasperAuthentication.__table__)).one(),
        )


def test_set_changes_every_setting_given_and_nothing_else(acme, migrated_engine, database_url):
    before_provider, _ = settings(migrated_engine)
    assert before_provider.allow_automatic_rate_plan_updates is False
    result = run(
        database_url,
        "provider",
        "set",
        acme,
        "--automatic-updates",
        "--optimization-start-hour",
        "6",
        "--billing-cycle-end-day",
        "20",
        "--billing-cycle-end-hour",
        "2",
        "--timezone",
        "Europe/Berlin",
        "--jasper-url",
        "https://other.example.com/rws/api/v1/",
        "--username-env",
        "ACME_USER",
        "--api-key-env",
        "ACME_KEY",
        "--account-id",
        "4711",
        "--max-rate-plans-per-group",
        "12",
        "--to",
        "ops@example.com, lead@example.com",
        "--cc",
        "billing@example.com",
    )
    assert result.exit_code == 0, result.output
    provider, auth = settings(migrated_engine)
    assert provider.allow_automatic_rate_plan_updates is True
    assert (provider.optimization_start_hour_local, provider.billing_cycle_end_day) == (6, 20)
    assert (provider.billing_cycle_end_hour, provider.time_zone) == (2, "Europe/Berlin")
    assert provider.max_rate_plans_per_group == 12 and provider.fleet == "m2m"
    assert auth.base_url == "https://other.example.com/rws/api/v1/"
    assert (auth.username_ref, auth.secret_ref, auth.account_id) == (
        "ACME_USER",
        "ACME_KEY",
        "4711",
    )
    assert "automatic updates:           yes" in result.output
    assert "recipients to:               lead@example.com, ops@example.com" in result.output

    cleared = run(
        database_url,
        "provider",
        "set",
        acme,
        "--no-automatic-updates",
        "--no-optimization-start-hour",
        "--no-account-id",
        "--inactive",
    )
    assert cleared.exit_code == 0, cleared.output
    provider, auth = settings(migrated_engine)
    assert provider.allow_automatic_rate_plan_updates is False and provider.is_active is False
    assert provider.optimization_start_hour_local is None and auth.account_id is None
    # Recipients not named in this call were kept.
    shown = run(database_url, "provider", "show", acme)
    assert "recipients cc:               billing@example.com" in shown.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timezone", "Mars/Olympus"], "Mars/Olympus"),
        (["--jasper-url", "not a url"], "must look like https://host/rws/api/v1/"),
        (["--jasper-url", "https://user:secret@host/rws/api/v1/"], "must not contain credentials"),
        (["--api-key-env", "NOT-A-NAME"], "is not an environment variable name"),
        (["--to", "ops@example.com, nobody"], "not e-mail addresses: nobody"),
        ([], "nothing to change"),
        (["--optimization-start-hour", "5", "--no-optimization-start-hour"], "not both"),
    ],
)
def test_a_bad_setting_is_refused_in_one_line_and_changes_nothing(
    acme, migrated_engine, database_url, args, message
):
    before = settings(migrated_engine)
    result = run(database_url, "provider", "set", acme, "--automatic-updates", *args)
    if not args:  # --automatic-updates alone is a change; the empty case is tested here
        result = run(database_url, "provider", "set", acme)
    assert result.exit_code != 0 and message in result.output, result.output
    assert "secret" not in result.output and "Traceback" not in result.output
    after = settings(migrated_engine)
    if args:
        assert [tuple(r) for r in after] == [tuple(r) for r in before]  # nothing half-written


def test_list_and_show_never_print_a_credential(acme, database_url, monkeypatch):
    monkeypatch.setenv("JASPER_API_KEY", "very-secret-key")
    listed = run(database_url, "provider", "list")
    assert listed.exit_code == 0 and listed.output.splitlines()[1].startswith("acme ")
    shown = run(database_url, "provider", "show", acme)
    assert shown.exit_code == 0
    assert "api key env:                 JASPER_API_KEY" in shown.output
    assert "very-secret-key" not in listed.output + shown.output
    unknown = run(database_url, "provider", "show", "nobody")
    assert unknown.exit_code != 0 and "carrier-opt provider add nobody" in unknown.output


@pytest.mark.parametrize(
    ("name", "url", "message"),
    [
        ("a|b", None, "may not contain |"),
        ("x,y", None, "may not contain ,"),
        ("p[1]", None, "may not contain [ ]"),
        ("", None, "name is empty"),
        ("   ", None, "name is empty"),
        (" acme", None, "starts or ends with a space"),
        ("tab\there", None, "holds a control character"),
        ("line\nbreak", None, "holds a control character"),
        ("n" * 101, None, "101 characters long, at most 100"),
        ("../etc", None, "may not contain /"),
        ("a..b", None, "may not contain .."),
        ("back\\slash", None, "may not contain \\"),
        ("ok", "not a url", "must look like https://host/rws/api/v1/"),
        ("ok", "ftp://host/rws/api/v1/", "must look like https://host/rws/api/v1/"),
        ("ok", "http://user:password@host/rws/api/v1/", "must not contain credentials"),
    ],
)
def test_provider_add_refuses_a_bad_name_or_url_in_one_line(
    migrated_engine, database_url, monkeypatch, name, url, message
):
    """Names end up in Dagster partition keys, file names and a String(100) column; URLs must
    not carry credentials (issue 14). Nothing is stored."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    result = run(
        database_url,
        "provider",
        "add",
        name,
        "--jasper-url",
        url or "https://jasper.example.com/rws/api/v1/",
        "--billing-cycle-end-day",
        "18",
        "--timezone",
        "UTC",
    )
    assert result.exit_code != 0 and message in result.output, result.output
    assert "Traceback" not in result.output and "password" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    with migrated_engine.connect() as connection:
        assert connection.execute(select(ServiceProvider.id)).all() == []
        assert connection.execute(select(JasperAuthentication.id)).all() == []


@pytest.mark.parametrize("name", ["O'Brien Telecom", 'The "M2M" Co', "Ünïcode Wireless", "n" * 100])
def test_provider_add_accepts_quotes_unicode_and_100_characters(
    migrated_engine, database_url, monkeypatch, name
):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    result = run(
        database_url,
        "provider",
        "add",
        name,
        "--jasper-url",
        "https://jasper.example.com/rws/api/v1/",
        "--billing-cycle-end-day",
        "18",
        "--timezone",
        "UTC",
    )
    assert result.exit_code == 0, result.output
    shown = run(database_url, "provider", "show", name)
    assert shown.exit_code == 0 and name in shown.output, shown.output
    with migrated_engine.connect() as connection:
        assert connection.scalar(select(ServiceProvider.name)) == name


SECRET = "s3cr3t-in-the-url"
QUERY_OR_PORT_CASES = [
    (f"https://jasper.example.com/rws/api/v1/?apikey={SECRET}", "must not have a query string"),
    (f"https://jasper.example.com/rws/api/v1/#token={SECRET}", "must not have a query string"),
    ("https://jasper.example.com:99999/rws/api/v1/", "port must be a number from 1 to 65535"),
    ("https://jasper.example.com:0/rws/api/v1/", "port must be a number from 1 to 65535"),
    ("https://jasper.example.com:https/rws/api/v1/", "port must be a number from 1 to 65535"),
]
QUERY_OR_PORT_IDS = ["query", "fragment", "port 99999", "port 0", "port not a number"]


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("name", "url", "message"),
    [
        ("ok", url, message)
        for url, message in [
            *QUERY_OR_PORT_CASES,
            ("https://jasper.example.com/rws/api/v1/?", "must not have a query string"),
        ]
    ]
    + [(".", "https://jasper.example.com/rws/api/v1/", "'.' is only dots")],
    ids=[*QUERY_OR_PORT_IDS, "empty query", "name ."],
)
def test_provider_add_refuses_a_url_query_a_bad_port_or_a_dots_name(
    migrated_engine, database_url, monkeypatch, name, url, message
):
    """Issue 26: a query string (``?apikey=...``, a credential stored and logged with the URL),
    port 99999 and the name ``.`` were accepted and stored. The refusal is one line that does
    not repeat the query's value, and nothing is stored."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    result = run(
        database_url,
        "provider",
        "add",
        name,
        "--jasper-url",
        url,
        "--billing-cycle-end-day",
        "18",
        "--timezone",
        "UTC",
    )
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert SECRET not in result.output and "Traceback" not in result.output
    with migrated_engine.connect() as connection:
        assert connection.execute(select(ServiceProvider.id)).all() == []
        assert connection.execute(select(JasperAuthentication.id)).all() == []


@pytest.mark.reliability
@pytest.mark.parametrize(("url", "message"), QUERY_OR_PORT_CASES, ids=QUERY_OR_PORT_IDS)
def test_provider_set_refuses_a_url_query_or_a_bad_port_and_changes_nothing(
    acme, migrated_engine, database_url, url, message
):
    """Issue 26: ``provider set --jasper-url`` stored the same URLs ``provider add`` now
    refuses; the whole change is refused, the other settings given with it too."""
    before = settings(migrated_engine)
    result = run(database_url, "provider", "set", acme, "--automatic-updates", "--jasper-url", url)
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert SECRET not in result.output and "Traceback" not in result.output
    assert [tuple(row) for row in settings(migrated_engine)] == [tuple(row) for row in before]
