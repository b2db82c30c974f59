"""The edge: ``Params`` reads request values into typed, checked ones, or refuses them."""

from __future__ import annotations

import pytest

from api.params import MAX_NAME, Params, required
from shared.errors import ApiError, require_found


def _refusal(call) -> tuple[str, str]:
    """The code of the ApiError ``call`` raises, and the parameter its message names."""
    with pytest.raises(ApiError) as excinfo:
        call()
    assert excinfo.value.http_status == 400
    return excinfo.value.code, excinfo.value.message.split('"')[1]


@pytest.mark.parametrize("value", [None, ""])
def test_required_names_what_is_missing(value):
    assert _refusal(lambda: required(value, "JobId")) == ("MissingParameter", "JobId")
    assert _refusal(lambda: Params({"JobId": value}).required("JobId")) == (
        "MissingParameter",
        "JobId",
    )


@pytest.mark.parametrize("value", [0, False, "x", {}, []])
def test_required_keeps_what_is_there(value):
    assert required(value, "X") == value


def test_absent_blank_and_none_read_alike():
    p = Params({"A": "", "B": None})
    assert "A" not in p and "B" not in p and "C" not in p
    assert p.str("A", "d") == p.str("B", "d") == p.str("C", "d") == "d"
    assert p.int("A", 3) == 3 and p.choice("A", ("x",), "x") == "x"
    for name in "ABC":
        assert _refusal(lambda name=name: p.str(name, required=True)) == (
            "MissingParameter",
            name,
        )


@pytest.mark.parametrize(
    ("value", "expected"),
    [(7, 7), ("7", 7), (" 10 ", 10), ("+3", 3), ("-2", -2), ("0", 0)],
)
def test_int_reads_numbers_and_digit_strings(value, expected):
    assert Params({"N": value}).int("N") == expected


@pytest.mark.parametrize("value", ["high", "6.5", 6.0, True, "1e3", "", "٣", [1], {"a": 1}])
def test_int_refuses_everything_else(value):
    p = Params({"N": value})
    if "N" in p:
        assert _refusal(lambda: p.int("N")) == ("InvalidParameter", "N")


@pytest.mark.parametrize("value", [0, 11, "11"])
def test_int_bounds(value):
    assert _refusal(lambda: Params({"N": value}).int("N", lo=1, hi=10)) == (
        "InvalidParameter",
        "N",
    )


def test_str_checks_type_and_length():
    assert Params({"S": "x" * 64}).str("S", max_len=64) == "x" * 64
    assert _refusal(lambda: Params({"S": "x" * 65}).str("S", max_len=64)) == (
        "InvalidParameter",
        "S",
    )
    assert _refusal(lambda: Params({"S": 5}).str("S")) == ("InvalidParameter", "S")


def test_choice_answers_the_canonical_spelling():
    speeds = ("Standard", "Boost")
    assert Params({"Speed": "Boost"}).choice("Speed", speeds) == "Boost"
    assert Params({"Speed": " boost "}).choice("Speed", speeds, ignore_case=True) == "Boost"
    assert Params({}).choice("Speed", speeds, "Standard") == "Standard"
    for value, ignore_case in (("boost", False), ("Turbo", True), (1, True)):
        p = Params({"Speed": value})
        assert _refusal(lambda p=p, i=ignore_case: p.choice("Speed", speeds, ignore_case=i)) == (
            "InvalidParameter",
            "Speed",
        )
    assert _refusal(lambda: Params({}).choice("Speed", speeds, required=True)) == (
        "MissingParameter",
        "Speed",
    )


def test_name_is_a_non_blank_string_of_limited_length():
    assert Params({"Name": "n" * MAX_NAME}).name() == "n" * MAX_NAME
    assert Params({"Name": ""}).name() is None
    for value in ("x" * (MAX_NAME + 1), "   ", 5, ["a"]):
        assert _refusal(lambda value=value: Params({"Name": value}).name()) == (
            "InvalidParameter",
            "Name",
        )
    assert _refusal(lambda: Params({}).name(required=True)) == ("MissingParameter", "Name")


def test_wire_time_is_exactly_the_ice_format():
    assert Params({"T": "1970-01-01T00:00:01Z"}).wire_time("T") == 1_000_000
    assert Params({}).wire_time("T") is None
    for text in ("2026-1-5T0:0:0Z", "2026-02-30T00:00:00Z", "2026-01-01 00:00:00", "yesterday"):
        assert _refusal(lambda text=text: Params({"T": text}).wire_time("T")) == (
            "InvalidParameter",
            "T",
        )


def test_json_object_takes_an_object_or_its_json_text():
    assert Params({"C": '{"a": 1}'}).json_object("C") == {"a": 1}
    assert Params({"C": {"a": 1}}).json_object("C") == {"a": 1}
    assert Params({}).json_object("C") is None
    for value in ("{not json", "[1, 2]", 5):
        assert _refusal(lambda value=value: Params({"C": value}).json_object("C")) == (
            "InvalidParameter",
            "C",
        )
    assert _refusal(lambda: Params({}).json_object("C", required=True)) == (
        "MissingParameter",
        "C",
    )


class _Owned:
    def __init__(self, owner: str):
        self.owner = owner


def test_require_found_hides_other_accounts_records():
    mine = _Owned("a")
    assert require_found(mine, "job", "j1") is mine
    assert require_found(mine, "job", "j1", owner="a") is mine
    for record, owner in ((None, None), (None, "a"), (mine, "b")):
        with pytest.raises(ApiError) as excinfo:
            require_found(record, "job", "j1", owner=owner)
        assert (excinfo.value.code, excinfo.value.http_status) == ("ResourceNotFound", 404)
        assert '"j1"' in excinfo.value.message
