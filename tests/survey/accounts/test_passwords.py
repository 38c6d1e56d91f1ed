import pytest

from survey.accounts.passwords import check_password, create_pollster
from survey.extensions import db


def test_passwords_are_hashed_with_argon2(app):
    with app.app_context():
        pollster = create_pollster("Ana@Example.org", "correct horse battery")
        db.session.commit()
        assert pollster.email == "ana@example.org"
        assert pollster.password_hash.startswith("$argon2id$")
        assert "correct horse" not in pollster.password_hash
        assert check_password(pollster, "correct horse battery")
        assert not check_password(pollster, "wrong password!!")


@pytest.mark.parametrize(
    "email, password, message",
    [("not-an-email", "long enough password", "not an email"), ("a@b.org", "short", "at least 12")],
)
def test_bad_accounts_are_refused_with_a_reason(app, email, password, message):
    with app.app_context(), pytest.raises(ValueError, match=message):
        create_pollster(email, password)


def test_duplicate_email_is_refused(app):
    with app.app_context():
        create_pollster("ana@example.org", "correct horse battery")
        db.session.commit()
        with pytest.raises(ValueError, match="already exists"):
            create_pollster("ANA@example.org", "another long password")
