"""Test foundation: an app per test on a migrated database, on every engine given.

TEST_DATABASE_URLS lists the engines, comma separated: ``sqlite`` and/or a
PostgreSQL URL such as ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``.
Each engine's schema is built once per session through the migrations, then
copied for each test (a file copy on SQLite, a template database on PostgreSQL).
"""

import contextvars
import copy
import os
import re
import shutil
import threading
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import MetaData, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.mailserver import (  # noqa: F401  (the SMTP test server)
    _smtp_server_of_this_process,
    smtp_server,
)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
PASSWORD = "correct horse battery staple"


def _engines():
    raw = os.environ.get("TEST_DATABASE_URLS", "sqlite")
    return [u.strip() for u in raw.split(",") if u.strip()]


def _engine_id(url):
    return "sqlite" if url == "sqlite" else make_url(url).get_backend_name()


def pytest_generate_tests(metafunc):
    if "engine_url" in metafunc.fixturenames:
        urls = _engines()
        metafunc.parametrize(
            "engine_url", urls, ids=[_engine_id(u) for u in urls], scope="session"
        )


def _migrate(url):
    from flask_migrate import upgrade

    from crm import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": url})
    with app.app_context():
        upgrade(revision="heads")
        from crm.extensions import db

        db.engine.dispose()


class _SQLiteTemplate:
    def __init__(self, tmp_path_factory):
        self.dir = tmp_path_factory.mktemp("sqlite")
        self.template = self.dir / "template.sqlite"
        _migrate(f"sqlite:///{self.template}")

    def new(self):
        target = self.dir / f"t_{uuid.uuid4().hex}.sqlite"
        shutil.copyfile(self.template, target)
        return f"sqlite:///{target}", lambda: target.unlink(missing_ok=True)


class _PostgresTemplate:
    """Copies of a migrated template database, reused by the tests of one process.

    A used copy is put back as the template left it (every table emptied, the
    template's rows written again, every sequence where the template had it)
    by a background thread, while the next test runs on another copy.
    Emptying two copies' small tables costs a fraction of dropping and
    creating databases, which forces a checkpoint of the whole server each
    time. A copy that cannot be emptied (a lock held past the test) is
    dropped and replaced.
    """

    COPIES = 2

    def __init__(self, url):
        self.base = make_url(url)
        self.admin = create_engine(self.base, isolation_level="AUTOCOMMIT")
        try:
            with self.admin.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # the server is down: skip, do not fail
            pytest.skip(f"PostgreSQL at {url} is unreachable: {exc}")
        self.name = f"crm_tmpl_{uuid.uuid4().hex[:10]}"
        self._execute(f'CREATE DATABASE "{self.name}"')
        _migrate(self._url(self.name))
        self._read_template()
        self._copies = []
        self._clean = []
        self._coming = self.COPIES  # copies being made or emptied
        self._ready = threading.Condition()
        self._worker = ThreadPoolExecutor(max_workers=1)
        for _ in range(self.COPIES):
            self._worker.submit(self._put_back, None)

    def _url(self, name):
        return self.base.set(database=name).render_as_string(False)

    def _execute(self, sql):
        with self.admin.connect() as conn:
            conn.execute(text(sql))

    def _read_template(self):
        engine = create_engine(self._url(self.name), poolclass=NullPool)
        metadata = MetaData()
        with engine.connect() as conn:
            metadata.reflect(conn)
            rows = [
                (table, [dict(r) for r in conn.execute(select(table)).mappings()])
                for table in metadata.sorted_tables
            ]
            sequences = conn.execute(
                text(
                    "SELECT sequencename, last_value FROM pg_sequences "
                    "WHERE schemaname = current_schema()"
                )
            ).all()
        engine.dispose()
        # The template's own rows (seeded by migrations), written back each time.
        self._rows = [(table, kept) for table, kept in rows if kept]
        self._empty_sql = "".join(
            f'DELETE FROM "{table.name}";' for table in metadata.sorted_tables
        )
        self._sequence_sql = "".join(
            f'ALTER SEQUENCE "{name}" RESTART;'
            if value is None
            else f"SELECT setval('\"{name}\"', {value}, true);"
            for name, value in sequences
        )

    def _copy(self):
        name = f"crm_t_{uuid.uuid4().hex[:12]}"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"')
        self._copies.append(name)
        return name

    def _drop(self, name):
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._copies.remove(name)

    def _empty(self, name):
        engine = create_engine(self._url(name), poolclass=NullPool)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
                # Foreign keys and triggers stay quiet while the rows go.
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
                conn.exec_driver_sql(self._empty_sql)
                for table, rows in self._rows:
                    conn.execute(table.insert(), rows)
                conn.exec_driver_sql(self._sequence_sql)
        finally:
            engine.dispose()

    def _put_back(self, name):
        """Empty a used copy (or make a new one) and offer it to the next test."""
        try:
            if name is None:
                name = self._copy()
            else:
                self._empty(name)
        except Exception:
            self._drop(name)
            name = self._copy()
        finally:
            with self._ready:
                self._clean.append(name)
                self._coming -= 1
                self._ready.notify()

    def new(self):
        with self._ready:
            waiting = bool(self._clean or self._coming)
            if waiting:
                self._ready.wait_for(lambda: self._clean)
                name = self._clean.pop()
        if not waiting:  # a test that holds every copy at once asks for another
            name = self._copy()
        if name is None:
            raise RuntimeError(f"no copy of {self.name} could be made (server log)")
        return self._url(name), lambda: self._release(name)

    def _release(self, name):
        with self._ready:
            self._coming += 1
        self._worker.submit(self._put_back, name)

    def close(self):
        self._worker.shutdown(wait=True)
        for name in list(self._copies):
            self._drop(name)
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.dispose()


@pytest.fixture(scope="session")
def database_template(engine_url, tmp_path_factory):
    if engine_url == "sqlite":
        yield _SQLiteTemplate(tmp_path_factory)
        return
    template = _PostgresTemplate(engine_url)
    yield template
    template.close()


@pytest.fixture
def database_url(database_template):
    url, drop = database_template.new()
    yield url
    drop()


@pytest.fixture
def app_config(database_url, tmp_path):
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-" + uuid.uuid4().hex,
        "FLASK_ADMIN_RAISE_ON_VIEW_EXCEPTION": True,
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        # argon2's cheapest parameters; tests/test_auth.py checks the real default.
        "PASSWORD_HASH_PROFILE": "cheapest",
    }


class IsolatedClient(FlaskClient):
    """Each request runs in an empty context, so it gets its own app context.

    The test keeps an app context pushed for its own database work; without
    this, Flask would reuse that context (and its ``g`` and session) for every
    request, which no real server does.
    """

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


# Settings every test has its own of; the app built for the rest is reused.
PER_TEST_SETTINGS = ("DATABASE_URL", "SECRET_KEY", "UPLOAD_DIR")


class _BuiltApps:
    """Apps built once per worker process and configuration, reused by tests.

    Building the app (about 120 admin views, 1,300 URL rules) costs about half
    a second; most tests differ only in their database, secret and upload
    folder. A reused app gets its settings and extensions back exactly as they
    were built, then the test's own database engine.
    """

    def __init__(self, size=8):
        self.size = size
        self.built = OrderedDict()

    @staticmethod
    def _key(config):
        shared = {k: v for k, v in config.items() if k not in PER_TEST_SETTINGS}
        engine = make_url(config["DATABASE_URL"]).get_backend_name()
        return engine, repr(sorted((k, repr(v)) for k, v in shared.items()))

    def checkout(self, config):
        from crm import create_app

        key = self._key(config)
        if key not in self.built:
            app = create_app(config)
            app.test_client_class = IsolatedClient
            built = (app, copy.deepcopy(dict(app.config)), dict(app.extensions))
            self.built[key] = built
            while len(self.built) > self.size:
                self.built.popitem(last=False)
            return app
        self.built.move_to_end(key)
        app, settings, extensions = self.built[key]
        app.config.clear()
        app.config.update(copy.deepcopy(settings))
        app.extensions.clear()
        app.extensions.update(extensions)
        app.config.update({k: config[k] for k in PER_TEST_SETTINGS if k in config})
        app.config["SQLALCHEMY_DATABASE_URI"] = config["DATABASE_URL"]
        self._connect(app, config["DATABASE_URL"])
        return app

    @staticmethod
    def _connect(app, url):
        """Point the app's engine at ``url``, as Flask-SQLAlchemy's init_app does."""
        from crm.core.database import init_database
        from crm.extensions import db

        engines = db._app_engines[app]
        for engine in engines.values():
            engine.dispose()
        options = {"url": url, **app.config["SQLALCHEMY_ENGINE_OPTIONS"]}
        db._apply_driver_defaults(options, app)
        engines[None] = db._make_engine(None, options, app)
        init_database(app)


_built_apps = _BuiltApps()


@pytest.fixture
def app(app_config):
    from crm.extensions import db

    app = _built_apps.checkout(app_config)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def db(app):
    from crm.extensions import db

    return db


_CSRF = re.compile(
    r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"'
)


class Web:
    """A test client that signs in and posts forms with their CSRF token."""

    def __init__(self, client):
        self.client = client
        self._token = None

    def token(self):
        if self._token is None:
            page = self.client.get("/login").get_data(as_text=True)
            match = _CSRF.search(page)
            self._token = match.group(1) or match.group(2)
        return self._token

    def get(self, url, **kwargs):
        return self.client.get(url, **kwargs)

    def post(self, url, data=None, **kwargs):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token())
        return self.client.post(url, data=data, **kwargs)

    def login(self, email, password=PASSWORD):
        return self.post("/login", {"email": email, "password": password})

    def logout(self):
        return self.post("/logout")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def web(client):
    return Web(client)


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(db):
    from crm.auth import services

    counter = iter(range(1, 10_000))

    def make(email=None, *, is_admin=False, name="", password=PASSWORD):
        email = email or f"user{next(counter)}@example.com"
        user = services.create_user(email, password, name=name, is_admin=is_admin)
        db.session.commit()
        return user

    return make


@pytest.fixture
def admin_user(make_user):
    return make_user("admin@example.com", is_admin=True, name="Ana Admin")


@pytest.fixture
def login_as(web, make_user):
    """Sign the web client in as a new user of the given role and return it."""

    def login(role="user", **kwargs):
        user = make_user(is_admin=(role == "admin"), **kwargs)
        response = web.login(user.email)
        assert response.status_code == 302, response.get_data(as_text=True)
        return user

    return login


@pytest.fixture
def make_contact(db):
    from crm.contacts import services
    from crm.contacts.models import Contact, ContactAddress, ContactEmail, ContactPhone

    def make(
        given="Jane",
        family="Doe",
        *,
        email=None,
        phone=None,
        owner=None,
        country=None,
        company=None,
        **fields,
    ):
        contact = Contact(given_name=given, family_name=family, **fields)
        if email:
            contact.emails.append(ContactEmail(address=email))
        if phone:
            contact.phones.append(ContactPhone(number=phone, kind="phone"))
        if country:
            contact.billing_addresses.append(
                ContactAddress(kind="billing", country_code=country)
            )
        if company:
            contact.company = services.get_or_create_company(company)
        if owner is not None:
            contact.owner = owner
        db.session.add(contact)
        services.prepare(contact, owner, is_new=True)
        db.session.commit()
        return contact

    return make


@pytest.fixture
def corpus():
    if not CORPUS.is_dir():
        pytest.skip(f"the shared contact corpus is absent ({CORPUS})")
    return CORPUS


@pytest.fixture(autouse=True)
def _no_context_left_behind():
    from flask import has_request_context

    yield
    assert not has_request_context(), "a test left a request context pushed"
