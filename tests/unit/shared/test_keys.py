"""shared.keys: a key function joins its arguments after its kind, leaving ``None`` out."""

from __future__ import annotations

from shared import keys


def test_a_key_joins_its_parts_after_its_kind():
    assert keys.job("ab12") == "mcfarm:job:ab12"
    assert keys.client_token("acme", "tok") == "mcfarm:token:acme:tok"
    assert keys.rate("k1", 17) == "mcfarm:rate:k1:17"


def test_a_none_part_is_left_out():
    key = keys._named("x")
    assert (key(), key(None), key(None, 3), key(3, None)) == (
        "mcfarm:x",
        "mcfarm:x",
        "mcfarm:x:3",
        "mcfarm:x:3",
    )
