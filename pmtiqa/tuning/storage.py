"""Where a tuning study lives: runtime.tune_storage, an SQLAlchemy URL in which {dataset} stands for
the dataset (SQLite in runs/tune/<dataset>/study.db by default; PostgreSQL for workers on several
machines, with the `cluster` extra's driver).

Workers that start together open one storage at the same moment: the first creates its tables, and
one that races it (two CREATE TABLEs, two inserts of the schema version, SQLite's lock) gets a
database error that a second try does not repeat. Opening is therefore tried a few times before a
bad URL, an unreachable server or a missing driver stops the command with one line, as does a
storage that fails later (storage_failures). Messages show a URL with its password masked.
"""
from __future__ import annotations

import contextlib
import re
import time
import warnings
from pathlib import Path

import optuna
import sqlalchemy

from pmtiqa.config.sections import password_masked
from pmtiqa.core.errors import UserError

KEY = "runtime.tune_storage"
TRIES = 5
DRIVERS = {"postgresql": "pip install 'pmtiqa[cluster]' (psycopg2)"}  # how to get a dialect's driver


def storage_url(template: str, dataset: str) -> str:
    return template.format(dataset=dataset)


def shown(url: str) -> str:
    """The URL as messages show it: its password masked, even where the URL does not parse or holds
    a raw '@' (SQLAlchemy ends the password at the first one, and would show the rest)."""
    masked = password_masked(url)
    if raw_ats(url):
        return masked
    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except (sqlalchemy.exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
        return masked


def raw_ats(url: str) -> bool:
    """Whether the part before the host holds an '@' of its own (it must be written %40)."""
    found = re.match(r"[^:/]+://([^/?#]*)", url)
    return bool(found) and found.group(1).count("@") > 1


def open_storage(url: str, heartbeat_s: int, source: str) -> optuna.storages.RDBStorage:
    """The study storage at ``url``, its tables created where missing. Trials beat every heartbeat_s
    seconds, so that one whose worker was killed can be told from one that still runs."""
    where = f"{source}: {KEY}: {shown(url)}"
    if raw_ats(url):
        raise UserError(f"{where}: holds '@' more than once before the host: write an '@' of the user name or "
                        "password as %40")
    try:
        parsed = sqlalchemy.engine.make_url(url)
        parsed.port  # noqa: B018 (parsed lazily: a port that is not a number raises here)
    except sqlalchemy.exc.ArgumentError as err:
        raise UserError(f"{where}: not an SQLAlchemy URL ({err})") from None
    except ValueError:  # what follows the host's last colon, or an IPv6 address's unclosed bracket
        raise UserError(f"{where}: its host and port cannot be read: a port is a number, and an IPv6 "
                        "address goes in brackets ([::1]:5432)") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise UserError(f"{where}: an SQLite database in memory keeps no study past the command (a killed study "
                        f"could not resume, a second worker would not see it): name a file, sqlite:///path/study.db")
    if parsed.get_backend_name() == "sqlite" and not parsed.query.get("uri"):  # a file: URI names its own path
        try:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(f"{where}: cannot make the folder of {parsed.database}: {err.strerror or err}") from None
    for attempt in range(1, TRIES + 1):
        try:
            # optuna still labels heartbeats experimental: its warning is not news to our users
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, heartbeat_interval=heartbeat_s)
        except ImportError as err:
            raise UserError(f"{where}: {missing_driver(parsed, err)}") from None
        except sqlalchemy.exc.ArgumentError as err:  # an unknown dialect or driver
            raise UserError(f"{where}: {err}") from None
        except RuntimeError as err:  # optuna: the tables are of another version of optuna
            raise UserError(f"{where}: {str(err).replace('$STORAGE_URL', shown(url))}") from None
        except (sqlalchemy.exc.DBAPIError, optuna.exceptions.StorageInternalError) as err:
            if attempt == TRIES:
                raise UserError(f"{where}: cannot open the study storage: {first_line(err)}") from None
            time.sleep(0.2 * attempt)  # another worker is creating the tables; they exist on the next try
    raise AssertionError("unreachable")


@contextlib.contextmanager
def storage_failures(url: str, source: str):
    """A database error while the study runs (a read-only file, a server gone) as one line naming the
    storage, its password masked."""
    try:
        yield
    except (sqlalchemy.exc.DBAPIError, optuna.exceptions.StorageInternalError) as err:
        raise UserError(f"{source}: {KEY}: {shown(url)}: the study storage failed: {first_line(err)}") from None


def missing_driver(parsed, err: ImportError) -> str:
    module = getattr(err.__cause__, "name", None) or str(err.__cause__ or err)
    backend = parsed.get_backend_name()
    return f"{backend} needs the {module} module, which is not installed: {DRIVERS.get(backend, 'install it')}"


def first_line(err: Exception) -> str:
    """The database's own words: SQLAlchemy appends its SQL and a link after them."""
    cause = getattr(err, "orig", None) or err.__cause__ or err
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]
