"""The factory, configuration and the headers every page carries."""
import pytest

from survey import create_app


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
