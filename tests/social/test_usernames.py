"""Look-alike usernames (issue 17): a name that differs from a taken one only in case, width
or look-alike letters of another alphabet is "taken", and a name mixing alphabets is
refused; names in one script (or the mixes real names use) are accepted."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from social.models import User
from social.usernames import mixed_script, username_key

PASSWORD = "pw-Likefeed-123"
# Latin letter -> a Cyrillic or Greek letter drawn the same (lower case).
LOOKALIKES = {
    "a": "\u0430", "c": "\u0441", "e": "\u0435", "o": "\u043e", "p": "\u0440", "x": "\u0445",
    "y": "\u0443", "i": "\u0456", "j": "\u0458", "s": "\u0455",
}  # fmt: skip
CONFUSABLE_LETTERS = "".join(LOOKALIKES)


def register(username: str) -> Any:
    client = Client(REMOTE_ADDR=f"10.9.{random.randrange(256)}.{random.randrange(1, 255)}")
    return client.post(
        "/api/auth/register/",
        data={"username": username, "password": PASSWORD},
        content_type="application/json",
    )


def disguise(name: str, flags: list[int]) -> str:
    """``name`` with each letter kept, upper-cased, made full-width, or (where one exists)
    swapped for its Cyrillic/Greek look-alike."""
    out = []
    for char, flag in zip(name, flags, strict=True):
        if flag == 1:
            out.append(char.upper())
        elif flag == 2:
            out.append(chr(ord(char) - 0x21 + 0xFF01))
        elif flag == 3 and char in LOOKALIKES:
            out.append(LOOKALIKES[char])
        else:
            out.append(char)
    return "".join(out)


@hsettings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_look_alike_of_a_taken_name_is_refused(data, db):
    stem = data.draw(st.text(CONFUSABLE_LETTERS, min_size=3, max_size=8))
    name = f"{stem}{uuid.uuid4().hex[:4]}"
    assert register(name).status_code == 201
    flags = data.draw(st.lists(st.integers(0, 3), min_size=len(name), max_size=len(name)))
    variant = disguise(name, flags)
    if variant == name:
        return
    answer = register(variant)
    assert answer.status_code == 400, (variant, answer.content)
    assert json.loads(answer.content)["detail"].startswith("username:")
    assert User.objects.filter(username_key=username_key(name)).count() == 1


@pytest.mark.parametrize(
    "taken, variant",
    [
        ("alice", "Alice"),
        ("alice", "ALICE"),
        ("alice", "\uff41\uff4c\uff49\uff43\uff45"),  # full-width
        ("alice", "\u0430lice"),  # one Cyrillic a: mixed scripts
        ("ace", "\u0430\u0441\u0435"),  # all Cyrillic, drawn as "ace"
        ("strasse", "STRASSE"),
        ("strasse", "stra\u00dfe"),  # case-folded: "ss"
    ],
)
def test_the_examples_of_the_issue_are_refused(taken, variant, db):
    suffix = uuid.uuid4().hex[:4]
    assert register(taken + suffix).status_code == 201
    assert register(variant + suffix).status_code == 400


@pytest.mark.parametrize(
    "name", ["\u0430lice", "p\u0430ypal", "g\u03bfogle", "\u0410dmin", "b\u043eb"]
)
def test_a_name_mixing_alphabets_is_refused_even_when_nothing_is_taken(name, db):
    answer = register(name + uuid.uuid4().hex[:3])
    assert answer.status_code == 400
    assert "alphabets" in json.loads(answer.content)["detail"]


@pytest.mark.parametrize(
    "name",
    ["\u0431\u043e\u0440\u0438\u0441", "\u03b6\u03b7\u03bb", "\u7530\u4e2d\u3055\u3093",
     "\u30bf\u30ed\u30a6", "kim\u6c11\uc900", "nao_42", "jos\u00e9", "\u00e5sa.b"],
)  # fmt: skip
def test_names_in_one_script_or_a_real_mix_are_accepted(name, db):
    assert not mixed_script(name)
    answer = register(name + str(random.randrange(10**6)))
    assert answer.status_code == 201, answer.content


def test_a_look_alike_is_refused_by_the_models_validation_too(db):
    """What the admin's forms run (full_clean): a 400-like form error, not an IntegrityError."""
    from django.core.exceptions import ValidationError

    name = f"carol{uuid.uuid4().hex[:4]}"
    User.objects.create_user(username=name, password=PASSWORD)
    with pytest.raises(ValidationError) as refused:
        User(username=name.upper()).full_clean(exclude=["password"])
    assert "username" in refused.value.message_dict
