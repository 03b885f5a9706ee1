"""``manage.py seed_demo --staff-password``: the staff login ``make run`` prints."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from social.models import User


def seed(password: str | None) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("seed_demo", staff_password=password, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db(transaction=True)
def test_the_staff_login_is_created_reset_to_the_given_password_and_printed() -> None:
    out, _ = seed("first-Staff-pw-1")
    assert "demo logins: alice, bob, carol, dave (password: likefeed-demo)" in out
    assert "staff login for /admin/ and /ops/: admin (password: first-Staff-pw-1)" in out
    admin = User.objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser and admin.check_password("first-Staff-pw-1")

    seed("second-Staff-pw-2")  # a new password file: the printed one is the one that works
    admin.refresh_from_db()
    assert admin.check_password("second-Staff-pw-2")
    assert User.objects.filter(is_staff=True).count() == 1


@pytest.mark.django_db(transaction=True)
def test_someone_who_signed_up_as_admin_is_never_promoted() -> None:
    from social.services import user_create

    user_create(username="admin", password="their-own-pw-123")
    out, err = seed("staff-pw-12345")
    assert "staff login" not in out and "no staff login" in err
    admin = User.objects.get(username="admin")
    assert not admin.is_staff and admin.check_password("their-own-pw-123")


@pytest.mark.django_db(transaction=True)
def test_without_a_password_no_staff_login() -> None:
    out, _ = seed(None)
    assert "staff login" not in out
    assert not User.objects.filter(username="admin").exists()
