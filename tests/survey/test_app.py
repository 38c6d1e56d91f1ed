"""The factory, configuration and the headers every page carries."""
import pytest

from survey import create_app
from survey.extensions import select_locale


def test_production_refuses_to_start_without_secret_key(tmp_path):
    with pytest.raises(RuntimeError, match="SECRET_KEY must be set"):
        create_app({"PRODUCTION": True, "SECRET_KEY": None, "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_security_headers_on_every_page(client):
    response = client.get("/")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert b"<h1>Not Found</h1>" in response.data


def test_postgresql_connections_prepare_no_statements(app):
    """psycopg would drop prepared statements at every ROLLBACK, and PgBouncer cannot keep them."""
    from survey.extensions import db

    with app.app_context():
        connection = db.engine.raw_connection()
        try:
            driver = connection.driver_connection
            if db.engine.dialect.name == "postgresql":
                assert driver.prepare_threshold is None
            else:
                assert driver.execute("PRAGMA journal_mode").fetchone()[0] in ("wal", "memory")
        finally:
            connection.close()


def test_engine_options_keep_what_the_configuration_says():
    from survey.database import engine_options

    configured = {"pool_pre_ping": True, "connect_args": {"prepare_threshold": 10}}
    assert engine_options("postgresql+psycopg://db/survey", configured)["connect_args"] == {"prepare_threshold": 10}
    assert engine_options("postgresql+psycopg://db/survey", {})["connect_args"] == {"prepare_threshold": None}
    assert "connect_args" not in engine_options("sqlite:///survey.db", {"pool_pre_ping": True})
    # psycopg's pooled connections are checked without a round trip (below); another driver keeps the pool's ping
    assert "pool_pre_ping" not in engine_options("postgresql+psycopg://db/survey", {})
    assert engine_options("postgresql+psycopg2://db/survey", {})["pool_pre_ping"] is True


def test_a_pooled_connection_the_server_closed_is_replaced_without_a_ping(app):
    """A PostgreSQL restart or an ended idle session leaves dead connections in the pool: the next
    request gets a new one, and no request pays a ``SELECT 1`` round trip to find out."""
    import select
    import time

    import sqlalchemy as sa

    from survey.extensions import db

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("a PostgreSQL server's pooled connections")
        db.engine.dispose()  # one connection in the pool, so each checkout is that one
        sent: list[str] = []
        sa.event.listen(db.engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
        backend = sa.text("SELECT pg_backend_pid()")
        with db.engine.connect() as connection:
            first = connection.execute(backend).scalar()
            socket = connection.connection.driver_connection.pgconn.socket
        with db.engine.connect() as connection:
            assert connection.execute(backend).scalar() == first
        admin = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=sa.pool.NullPool)
        with admin.connect() as connection:
            assert connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar()
        admin.dispose()
        deadline = time.monotonic() + 10
        while not select.select([socket], [], [], 0.05)[0] and time.monotonic() < deadline:
            pass
        with db.engine.connect() as connection:
            assert connection.execute(backend).scalar() != first  # a new connection, and no error
        assert sent == ["SELECT pg_backend_pid()"] * 3


def test_warm_up_compiles_every_template_and_loads_the_translations(app):
    """gunicorn --preload forks workers that have nothing left to compile or load."""
    from flask_babel import force_locale, gettext

    from survey import warm_up

    app.jinja_env.cache.clear()
    warm_up(app)
    names = {template.name for template in app.jinja_env.cache.values()}
    assert {"base.html", "respond/page.html", "respond/_question.html", "pollster/layout.html"} <= names
    with app.test_request_context(), force_locale("es"):
        assert gettext("Next") == "Siguiente"


@pytest.mark.parametrize("setting", ["RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION"])
def test_a_site_wide_limit_is_still_applied_to_every_page(setting):
    """Flask-Limiter's per-request check is dropped only while no site-wide limit needs it."""
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://",
                      "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://", setting: "2 per minute"})
    client = app.test_client()
    assert [client.get("/pollster/").status_code for _ in range(3)] == [302, 302, 429]


def test_the_session_cookie_serializer_is_built_once_per_key_and_follows_a_new_key(app):
    """``security.SessionCookie`` keeps Flask's serializer between requests, but never past a key change."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["lang"] = "es"
    interface = app.session_interface
    first = interface.get_signing_serializer(app)
    assert interface.get_signing_serializer(app) is first
    with client.session_transaction() as session:
        assert session["lang"] == "es"
    app.config["SECRET_KEY"] = "a new key, after the old one leaked"
    assert interface.get_signing_serializer(app) is not first
    with client.session_transaction() as session:
        assert "lang" not in session  # signed with the old key: refused
    app.config["SECRET_KEY_FALLBACKS"] = [first.secret_keys[-1]]
    with client.session_transaction() as session:
        assert session["lang"] == "es"  # the old key kept as a fallback still reads it


def test_a_session_cookie_is_verified_once_but_still_ages_and_each_request_gets_its_own_copy(app, monkeypatch):
    """``security.SessionCookie`` keeps the cookies it verified, by their exact text."""
    import copy

    from flask import session

    from survey import security

    seen = []

    @app.get("/_session_probe")
    def probe():
        seen.append(copy.deepcopy(session.get("respondent")))
        session.get("respondent", {}).get("a-survey", []).append("changed in place")  # not kept: not marked modified
        return ""

    client = app.test_client()
    with client.session_transaction() as stored:
        stored["respondent"] = {"a-survey": ["r", "a-token"]}
    serializer = app.session_interface.get_signing_serializer(app)
    verifications = []
    real_loads = serializer.loads
    monkeypatch.setattr(serializer, "loads",
                        lambda *args, **kwargs: verifications.append(1) or real_loads(*args, **kwargs))

    for _ in range(3):
        assert client.get("/_session_probe").status_code == 200
    assert seen == [{"a-survey": ["r", "a-token"]}] * 3  # each request its own copy, the change of one not kept
    assert len(verifications) == 1

    lifetime = app.permanent_session_lifetime.total_seconds()
    now = security.time.time()
    monkeypatch.setattr(security.time, "time", lambda: now + lifetime + 1)
    client.get("/_session_probe")
    assert seen[-1] is None  # too old, although verified before

    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    tampered = cookie.value[:-2] + ("AA" if cookie.value[-2:] != "AA" else "BB")
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], tampered)
    client.get("/_session_probe")
    assert seen[-1] is None  # tampered: refused


@pytest.mark.parametrize(("path", "accept_language", "expected"), [
    ("/", "es-MX,es;q=0.9,en;q=0.8", "es"),
    ("/", "en;q=0.5, es;q=0.9", "es"),  # by weight, not by order
    ("/", "fr-FR, de;q=0.8", "en"),  # nothing we speak: the first language
    ("/", "", "en"),
    ("/?lang=en", "es", "en"),  # the respondent's choice outranks the browser
    ("/?lang=xx", "es", "es"),
])
def test_the_locale_follows_the_choice_then_the_browser(app, path, accept_language, expected):
    for _ in range(2):  # the second time from the parsed header kept for it
        with app.test_request_context(path, headers={"Accept-Language": accept_language}):
            assert select_locale() == expected
