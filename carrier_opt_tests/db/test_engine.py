"""Database URLs: defaults from the environment, and one clear error for each mistake."""

import importlib.util

import pytest

from carrier_opt.db.engine import check_connection, display_url, make_engine, parse_database_url
from carrier_opt.errors import ConfigurationError, DatabaseError
from carrier_opt.settings import resolve_database_url


def test_default_database_is_sqlite_under_carrier_opt_home(monkeypatch, tmp_path):
    monkeypatch.delenv("CARRIER_OPT_DATABASE_URL", raising=False)
    monkeypatch.setenv("CARRIER_OPT_HOME", str(tmp_path / "home"))
    assert resolve_database_url() == f"sqlite:///{tmp_path / 'home' / 'carrier_opt.db'}"
    engine = make_engine()
    check_connection(engine)
    assert (tmp_path / "home" / "carrier_opt.db").exists()


def test_environment_url_is_used_and_explicit_url_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("CARRIER_OPT_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    assert resolve_database_url().endswith("env.db")
    assert resolve_database_url("sqlite:///other.db") == "sqlite:///other.db"


def test_plain_postgresql_urls_use_psycopg_3():
    assert parse_database_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert parse_database_url("postgres://u@h/db").drivername == "postgresql+psycopg"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "invalid database URL"),
        ("oracle+nothing://u@h/db", "unknown database kind"),
    ],
)
def test_bad_urls_raise_a_configuration_error(url, expected):
    with pytest.raises(ConfigurationError, match=expected):
        make_engine(url)


def test_unreachable_database_names_the_url_without_its_password():
    engine = make_engine("postgresql://carrier:s3cret-pw@127.0.0.1:1/nowhere")
    with pytest.raises(DatabaseError) as raised:
        check_connection(engine)
    message = str(raised.value)
    assert "cannot connect to postgresql+psycopg://carrier:***@127.0.0.1:1/nowhere" in message
    assert "s3cret-pw" not in message
    assert "\n" not in message


def test_display_url_hides_passwords_even_in_unparsable_urls():
    assert display_url("weird://user:pa55@host/x") == "weird://user:***@host/x"
    assert "pa55" not in display_url(parse_database_url("postgresql://user:pa55@host/x"))


def _pyodbc_usable() -> bool:
    if importlib.util.find_spec("pyodbc") is None:
        return False
    try:
        import pyodbc  # noqa: F401
    except ImportError:  # the wheel is there but unixODBC (libodbc.so.2) is not
        return False
    return True


@pytest.mark.skipif(not _pyodbc_usable(), reason="pyodbc needs unixODBC (apt-get install unixodbc)")
def test_sql_server_urls_work_with_the_mssql_extra():
    engine = make_engine(
        "mssql+pyodbc://user:pw@sqlhost/CarrierOpt?driver=ODBC+Driver+18+for+SQL+Server"
    )
    assert engine.dialect.name == "mssql"
    assert engine.dialect.driver == "pyodbc"


def test_sql_server_without_its_driver_says_how_to_install_it(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pyodbc(name, *args, **kwargs):
        if name == "pyodbc":
            raise ImportError("libodbc.so.2: cannot open shared object file")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyodbc)
    monkeypatch.delitem(__import__("sys").modules, "pyodbc", raising=False)
    with pytest.raises(ConfigurationError, match=r"carrier-opt\[mssql\].*unixodbc"):
        make_engine("mssql+pyodbc://user:pw@sqlhost/CarrierOpt")
