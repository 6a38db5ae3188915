"""A winner corrupted inside the database, for end-to-end tests that run real processes.

The daemon's run process cannot be monkeypatched, so the corruption is a database trigger: when
a queue becomes the winner of its instance, one of its SIMs gets a second winning row. Nothing
in the product changes; the run's own checks must notice and stop the push.
"""

from __future__ import annotations

from sqlalchemy import Engine, text

from carrier_opt.db.models import OptimizationDeviceResult, OptimizationQueue

TRIGGER = "carrier_opt_test_duplicate_a_winning_row"


def _names(engine: Engine) -> tuple[str, str, str, str]:
    """(queue table, result table, result columns without id, queue column) quoted for the
    engine's dialect."""
    quote = engine.dialect.identifier_preparer.quote
    columns = ", ".join(
        quote(column.name)
        for column in OptimizationDeviceResult.__table__.columns
        if column.name != "id"
    )
    return (
        quote(OptimizationQueue.__tablename__),
        quote(OptimizationDeviceResult.__tablename__),
        columns,
        quote("optimization_queue_id"),
    )


def corrupt_the_next_winners(engine: Engine) -> None:
    """From now on, every M2M winner stored gets one SIM twice (SQLite or PostgreSQL)."""
    queue, result, columns, queue_id = _names(engine)
    copy_one_row = (
        f"INSERT INTO {result} ({columns}) SELECT {columns} FROM {result} "
        f"WHERE {queue_id} = NEW.id LIMIT 1;"
    )
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.execute(
                text(
                    f"CREATE TRIGGER {TRIGGER} AFTER UPDATE OF is_winner ON {queue} "
                    f"FOR EACH ROW WHEN NEW.is_winner AND NOT COALESCE(OLD.is_winner, FALSE) "
                    f"BEGIN {copy_one_row} END"
                )
            )
            return
        connection.execute(
            text(
                f"CREATE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN {copy_one_row} RETURN NEW; END $$"
            )
        )
        connection.execute(
            text(
                f"CREATE TRIGGER {TRIGGER} AFTER UPDATE OF is_winner ON {queue} FOR EACH ROW "
                "WHEN (NEW.is_winner AND NOT COALESCE(OLD.is_winner, FALSE)) "
                f"EXECUTE FUNCTION {TRIGGER}()"
            )
        )
