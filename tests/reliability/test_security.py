"""Security settings that hold on every route: headers, cookies, secrets, proxies, and the repository itself."""
from __future__ import annotations

import io
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
        "TRUSTED_HOSTS": "survey.example.org",
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
                "PARADATA_SALT": STRONG_SECRET[::-1], "TRUSTED_HOSTS": ["survey.example.org"], key: value}
    with pytest.raises(RuntimeError, match=complaint):
        create_app(settings)


def test_production_starts_with_random_secrets():
    app = create_app({**settings_for_tests(), "PRODUCTION": True, "SECRET_KEY": STRONG_SECRET, "TRUSTED_HOSTS": ["survey.example.org"],
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


# --------------------------------------------------------------------------- request size, CSRF lifetime, host names

def test_a_body_over_the_limit_gets_a_friendly_413(client, database):
    big = "x" * (2 * 1024 * 1024)
    page = client.post(f"/s/{SLUG}/consent", data={"website": big})
    assert page.status_code == 413
    assert "text/html" in page.content_type and "too large" in page.get_data(as_text=True)
    api = client.post("/api/surveys", data=big, headers={"Authorization": "Bearer x", "Content-Type": "application/json"})
    assert api.status_code == 413
    assert api.get_json()["error"]["code"] == 413 and "too large" in api.get_json()["error"]["message"]


def test_upload_routes_accept_larger_bodies(app, client, database, make_pollster, sign_in):
    """Only the upload routes take more than MAX_CONTENT_LENGTH (lowered here to keep the file in memory)."""
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    make_pollster("owner@example.org", SLUG)
    sign_in(client, "owner@example.org")
    panel_ids = "".join(f"panel-{number:07d}\n" for number in range(20_000)).encode()
    assert app.config["MAX_CONTENT_LENGTH"] < len(panel_ids) < app.config["UPLOAD_MAX_CONTENT_LENGTH"]
    response = client.post(f"/pollster/surveys/{SLUG}/invitations",
                           data={"panel_ids_csv": (io.BytesIO(panel_ids), "panel.csv")})
    assert response.status_code == 200 and response.get_data(as_text=True).count("/i/") == 20_000
    refused = client.post("/pollster/tokens", data={"name": "x" * len(panel_ids)})
    assert refused.status_code == 413


def test_csrf_tokens_outlive_a_long_survey_page_but_expire(app, monkeypatch):
    """A respondent may leave a page open for hours; a token copied last week is refused."""
    import itsdangerous.timed
    from flask_wtf.csrf import generate_csrf, validate_csrf
    from wtforms import ValidationError

    app.config["WTF_CSRF_ENABLED"] = True
    started = itsdangerous.timed.time.time()
    with app.test_request_context():
        token = generate_csrf()
        monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: started + 4 * 3600)
        validate_csrf(token)
        monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: started + 7 * 24 * 3600)
        with pytest.raises(ValidationError, match="expired"):
            validate_csrf(token)


def _production(**overrides):
    return create_app({**settings_for_tests(), "PRODUCTION": True, "SECRET_KEY": STRONG_SECRET,
                       "PARADATA_SALT": STRONG_SECRET[::-1], "TRUSTED_HOSTS": ["survey.example.org"], **overrides})


def test_production_needs_the_site_host_names():
    with pytest.raises(RuntimeError, match="TRUSTED_HOSTS"):
        _production(TRUSTED_HOSTS=None)


def test_a_forged_host_header_never_reaches_a_link(database):
    site = _production(SQLALCHEMY_DATABASE_URI=database)
    client = site.test_client()
    assert client.get(f"/s/{SLUG}", base_url="https://survey.example.org").status_code == 200
    forged = client.get(f"/s/{SLUG}", base_url="https://evil.example")
    assert forged.status_code == 400
    assert "evil.example" not in forged.get_data(as_text=True)
    with site.app_context():
        db.engine.dispose()


# --------------------------------------------------------------------------- dependencies

ADVISORIES = {"gunicorn": "21.2.0", "pyarrow": "14.0.0", "werkzeug": "3.0.5"}  # last vulnerable versions


def _declared_requirements() -> list:
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [requirement for group in project["optional-dependencies"].values() for requirement in group]
    return [Requirement(text) for text in project["dependencies"] + extras]


def _locked() -> dict[str, str]:
    from packaging.utils import canonicalize_name

    lines = (ROOT / "requirements" / "lock.txt").read_text().splitlines()
    pins = [line.split("==") for line in lines if line.strip() and not line.startswith("#")]
    return {canonicalize_name(name): version.strip() for name, version in pins}


def test_dependency_floors_exclude_versions_with_known_advisories():
    from packaging.utils import canonicalize_name

    declared = {canonicalize_name(requirement.name): requirement.specifier for requirement in _declared_requirements()}
    for name, vulnerable in ADVISORIES.items():
        assert name in declared, f"{name} is not declared in pyproject.toml"
        assert not declared[name].contains(vulnerable), f"pyproject.toml still allows {name} {vulnerable}"


def test_the_lock_pins_every_dependency_at_the_tested_version():
    """The lock satisfies pyproject.toml, CI and deployments install from it, and it pins what the suite runs on."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.utils import canonicalize_name

    locked = _locked()
    for requirement in _declared_requirements():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is missing from requirements/lock.txt; run `make lock`"
        assert requirement.specifier.contains(locked[name]), f"lock pins {name}=={locked[name]}, outside {requirement}"
        try:
            assert version(requirement.name) == locked[name], (
                f"the tests run on {name} {version(requirement.name)} but the lock pins {locked[name]}; run `make lock`")
        except PackageNotFoundError:
            continue  # an optional extra not installed here
    installs = [line for line in (ROOT / "Makefile").read_text().splitlines() if "pip install" in line and " -e " in line]
    assert installs and all("-c $(LOCK)" in line for line in installs), installs


# --------------------------------------------------------------------------- uploaded YAML

def _alias_bomb(levels: int = 7) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 9)}]")
    return "\n".join(lines) + f"\nmargins: {{region: {{north: *a{levels}}}}}\n"


DEEP = "margins: " + "[" * 5000 + "]" * 5000 + "\n"


@pytest.mark.parametrize("document, complaint", [(_alias_bomb(), "alias"), (DEEP, "nested")])
def test_uploaded_targets_refuse_aliases_and_deep_nesting(client, database, make_pollster, sign_in, document, complaint):
    make_pollster("owner@example.org", SLUG)
    sign_in(client, "owner@example.org")
    response = client.post(f"/pollster/surveys/{SLUG}/weighting/targets/upload",
                           data={"targets_file": (io.BytesIO(document.encode()), "targets.yaml")})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert complaint in page and len(page) < 100_000 and page.count("lol") <= 9


@pytest.mark.parametrize("document, complaint", [
    ("name: &n Targets\nmargins: {region: {north: 0.5, south: 0.5}}\nsources: {region: *n}\n", "alias"),
    ("margins: {region: {north: 0.5, south: 0.5}}\nsources: {region: {nested: [1, 2]}}\n", "text"),
    ("name: [1, 2]\nmargins: {region: {north: 0.5, south: 0.5}}\n", "text"),
    ("margins: {region: {north: '" + "9" * 5000 + "x'}}\n", "not a number"),
    ("# padding\n" * 200_000, "larger"),
])
def test_targets_yaml_keeps_values_small_and_plain(document, complaint):
    from survey.weighting.targets import TargetsFileError, parse_yaml

    with pytest.raises(TargetsFileError, match=complaint) as refused:
        parse_yaml(document)
    assert len(str(refused.value)) < 300


@pytest.mark.parametrize("document, complaint", [
    ("slug: &s x\ntitle: *s\n", "alias"),
    ("slug: " + "[" * 5000 + "]" * 5000 + "\n", "nested"),
])
def test_questionnaire_files_refuse_aliases_and_deep_nesting(document, complaint):
    from survey.questionnaires.loading import read_document
    from survey.questionnaires.model import QuestionnaireError

    with pytest.raises(QuestionnaireError, match=complaint):
        read_document(document)


# --------------------------------------------------------------------------- the documented deployment

def _deploy_block(language: str) -> str:
    text = (ROOT / "docs" / "deploy.md").read_text()
    blocks = re.findall(rf"```{language}\n(.*?)```", text, re.S)
    assert blocks, f"docs/deploy.md has no {language} block"
    return "\n".join(blocks)


def test_the_documented_nginx_logs_no_addresses_and_no_token_paths():
    nginx = _deploy_block("nginx")
    formats = dict(re.findall(r"log_format\s+(\w+)\s+((?:'[^']*'\s*)+);", nginx))
    access_logs = re.findall(r"^\s*access_log\s+([^;]+);", nginx, re.M)
    assert formats and access_logs, "the nginx config must name its access log and its format"
    for access_log in access_logs:
        parts = access_log.split()
        assert parts[0] == "off" or (len(parts) > 1 and parts[1] in formats), f"access_log {access_log} uses nginx's default format"
    leaking = {"$remote_addr", "$binary_remote_addr", "$http_x_forwarded_for", "$proxy_add_x_forwarded_for",
               "$request", "$request_uri", "$uri", "$document_uri", "$args", "$query_string", "$http_referer",
               "$realip_remote_addr"}
    for name, fields in formats.items():
        assert not leaking & set(re.findall(r"\$\w+", fields)), f"log_format {name} logs {fields}"
    assert re.search(r"^\s*error_log\s+\S+\s+crit;", nginx, re.M), "nginx's error log names the client and the request below crit"
    assert int(re.search(r"client_max_body_size\s+(\d+)m;", nginx).group(1)) * 1024 * 1024 >= create_app(
        settings_for_tests()).config["UPLOAD_MAX_CONTENT_LENGTH"]


def test_the_deployment_guide_states_the_privacy_promise_and_its_duties():
    text = (ROOT / "docs" / "deploy.md").read_text()
    section = text.split("## Privacy", 1)[1].split("\n## ", 1)[0]
    for duty in ("IP address", "expire-paradata", "access-logfile", "TRUSTED_HOSTS", "BROWSER_HASH_DAYS"):
        assert duty in section, f"the privacy section of docs/deploy.md does not mention {duty}"
    assert "TRUSTED_HOSTS=" in _deploy_block("sh") and "requirements/lock.txt" in _deploy_block("sh")
    assert "--access-logfile" not in _deploy_block("ini")
