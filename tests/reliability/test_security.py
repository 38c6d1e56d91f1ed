"""Security settings that hold on every route: headers, cookies, secrets, proxies, and the repository itself."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest
from werkzeug.routing import AnyConverter, Rule
from werkzeug.routing.converters import NumberConverter

from survey import create_app
from survey.extensions import db
from tests.reliability.conftest import ROOT
from tests.support.site import app_for, settings_for_tests

SLUG = "california-2025"  # the default survey, opened by the ``database`` fixture
STRONG_SECRET = "9f2c41d7e0b84a6c93f1d2e5b7a8c0d4f6e1a3b5c7d9e0f2"


# --------------------------------------------------------------------------- headers on every route

def _any_url(rule: Rule, fillers: dict) -> str:
    """A URL for ``rule``: real values where known, placeholders elsewhere (a 404 must carry the headers too)."""
    values = {}
    for name in rule.arguments:
        converter = rule._converters[name]
        if isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]
        else:
            values[name] = fillers.get(name, 1 if isinstance(converter, NumberConverter) else "x")
    return rule.build(values, append_unknown=False)[1]


def _assert_security_headers(response, where: str) -> None:
    policy = response.headers.get("Content-Security-Policy", "")
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy, where
    assert "frame-ancestors 'none'" in policy or response.headers.get("X-Frame-Options") == "DENY", where
    assert response.headers.get("Referrer-Policy") in ("same-origin", "no-referrer", "strict-origin-when-cross-origin"), where
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where


def test_every_route_sends_the_security_headers(app, client, database, make_pollster, sign_in):
    make_pollster("owner@example.org", SLUG)
    fillers = {"slug": SLUG, "page_id": "screening", "filename": "site.css", "name": "respondents.csv",
               "code": "calexit", "token": "unknown-token"}
    checked = 0
    for signed_in in (False, True):
        if signed_in:
            sign_in(client, "owner@example.org")
        for rule in app.url_map.iter_rules():
            url = _any_url(rule, fillers)
            for method in sorted(rule.methods - {"OPTIONS", "HEAD"}):
                response = client.open(url, method=method)
                response.close()  # static files are streamed from an open file
                _assert_security_headers(response, f"{method} {url} -> {response.status_code}")
                checked += 1
    _assert_security_headers(client.get("/no/such/page"), "404 page")
    assert checked >= 2 * 30, f"only {checked} requests: is a blueprint missing from the walk?"


# --------------------------------------------------------------------------- cookies and secrets in production

PRODUCTION_PROBE = textwrap.dedent("""
    import json, os
    from survey import create_app
    report = {}
    try:
        create_app({"SECRET_KEY": "change-me-please-change-me-please-change-me"})
    except RuntimeError as error:
        report["placeholder_refused"] = str(error)
    app = create_app()
    report["secure"] = app.config["SESSION_COOKIE_SECURE"]
    client = app.test_client()
    response = client.get("/pollster/login", base_url="https://survey.example.org")
    report["set_cookie"] = response.headers.getlist("Set-Cookie")
    print(json.dumps(report))
""")


@pytest.mark.slow
def test_production_cookies_are_secure_httponly_and_samesite(tmp_path):
    """Run in a fresh interpreter: the settings are read from the environment when the config is imported."""
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),  # the checkout, whether or not the package is installed
        "SURVEY_ENV": "production",
        "SECRET_KEY": STRONG_SECRET,
        "PARADATA_SALT": STRONG_SECRET[::-1],
        "DATABASE_URL": f"sqlite:///{tmp_path / 'production.db'}",
    }
    probe = subprocess.run([sys.executable, "-c", PRODUCTION_PROBE], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    report = json.loads(probe.stdout.strip().splitlines()[-1])
    assert "SECRET_KEY looks like a placeholder" in report["placeholder_refused"]
    assert report["secure"] is True
    [session_cookie] = [cookie for cookie in report["set_cookie"] if cookie.startswith("session=")]
    attributes = {part.strip().split("=")[0].lower() for part in session_cookie.split(";")}
    assert {"secure", "httponly", "samesite"} <= attributes
    assert "SameSite=Lax" in session_cookie or "SameSite=Strict" in session_cookie


def test_development_cookies_are_httponly_and_samesite(client, database):
    response = client.get(f"/s/{SLUG}?lang=es")  # choosing a language is kept in the session
    [session_cookie] = [cookie for cookie in response.headers.getlist("Set-Cookie") if cookie.startswith("session=")]
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie


@pytest.mark.parametrize(
    "key, value, complaint",
    [
        ("SECRET_KEY", None, "SECRET_KEY must be set"),
        ("SECRET_KEY", "dev", "SECRET_KEY looks like a placeholder or is too short"),
        ("SECRET_KEY", "change-me-in-production-change-me-in-production", "SECRET_KEY looks like a placeholder"),
        ("SECRET_KEY", "testing-only-secret", "SECRET_KEY looks like a placeholder"),
        ("SECRET_KEY", "a" * 64, "SECRET_KEY looks like a placeholder"),
        ("PARADATA_SALT", "salt", "PARADATA_SALT looks like a placeholder or is too short"),
    ],
)
def test_production_refuses_missing_or_weak_secrets(key, value, complaint):
    settings = {**settings_for_tests(), "PRODUCTION": True, "SECRET_KEY": STRONG_SECRET,
                "PARADATA_SALT": STRONG_SECRET[::-1], key: value}
    with pytest.raises(RuntimeError, match=complaint):
        create_app(settings)


def test_production_starts_with_random_secrets():
    app = create_app({**settings_for_tests(), "PRODUCTION": True, "SECRET_KEY": STRONG_SECRET,
                      "PARADATA_SALT": STRONG_SECRET[::-1]})
    assert app.secret_key == STRONG_SECRET


# --------------------------------------------------------------------------- client addresses behind a proxy

def _starts_from(client, slug: str, address: str) -> int:
    return client.post(f"/s/{slug}/consent", headers={"X-Forwarded-For": address}).status_code


@pytest.mark.parametrize("trusted_proxies, second_address_limited", [(0, True), (1, False)])
def test_the_start_limit_counts_the_client_behind_a_trusted_proxy(database, trusted_proxies, second_address_limited):
    """With TRUSTED_PROXIES=1 each client address has its own limit; with 0 a forged header changes nothing."""
    site = app_for(database, RATELIMIT_ENABLED=True, RATELIMIT_START="2 per minute",
                   RATELIMIT_STORAGE_URI="memory://", TRUSTED_PROXIES=trusted_proxies)
    first, second = site.test_client(), site.test_client()
    try:
        assert [_starts_from(first, SLUG, "203.0.113.7") for _ in range(3)][-1] == 429
        assert (_starts_from(second, SLUG, "198.51.100.9") == 429) is second_address_limited
    finally:
        with site.app_context():
            db.session.remove()
            db.engine.dispose()


# --------------------------------------------------------------------------- nothing secret in the repository

SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY( BLOCK)?-----"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{50,}"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "Stripe or OpenAI key": re.compile(r"\b(?:sk_live|rk_live)_[A-Za-z0-9]{20,}|\bsk-[A-Za-z0-9]{40,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    "our API token": re.compile(r"\bsvy_[A-Za-z0-9_\-]{30,}"),
    "password in a URL": re.compile(r"\b[a-z][a-z0-9+]*://[^/\s:@'\"{}]+:[^/\s@'\"{}]{6,}@"),
}
FORBIDDEN_FILES = re.compile(r"(^|/)(\.env|[^/]*\.pem|[^/]*\.key|id_rsa|id_ed25519|secret_key|paradata_salt|[^/]*\.db|[^/]*\.sqlite3?)$")


def secrets_in(text: str) -> list[str]:
    return [name for name, pattern in SECRET_PATTERNS.items() if pattern.search(text)]


@pytest.mark.parametrize(
    "sample, kind",
    [
        ("-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEow...", "private key"),
        ("aws = 'AKIA" + "IOSFODNN7EXAMPLE'", "AWS access key"),
        ("token: ghp_" + "a1B2" * 9, "GitHub token"),
        ("Authorization: Bearer svy_" + "Xy9" * 12, "our API token"),
        ("DATABASE_URL=postgresql://survey:" + "hunter2secret@db.example.org/survey", "password in a URL"),
    ],
)
def test_the_secret_scanner_recognizes_secrets(sample, kind):
    assert kind in secrets_in(sample)


def test_no_secrets_are_committed():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, timeout=60)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: nothing committed to scan")
    paths = [path for path in listed.stdout.decode().split("\0") if path]
    assert len(paths) > 20
    found = [path for path in paths if FORBIDDEN_FILES.search(path)]
    for path in paths:
        file = ROOT / path
        if not file.is_file() or file.stat().st_size > 2_000_000:
            continue
        text = file.read_bytes().decode("utf-8", errors="ignore")
        found += [f"{path}: {kind}" for kind in secrets_in(text)]
    assert not found, f"secrets or secret files are committed: {found}"
