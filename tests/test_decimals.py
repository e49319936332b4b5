"""Exact decimal parsing, fixed-point helpers and canonical spelling (zkmargin.rules.decimals)."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkmargin.errors import FormatError, PrecisionError
from zkmargin.rules.decimals import (
    canonical,
    check_scale,
    decimals_of,
    from_fixed,
    load_json_file,
    loads_json,
    parse_decimal,
    quantize,
    to_fixed,
)


@pytest.mark.parametrize("text,value", [
    ("0", "0"), ("-0", "0"), ("1.50", "1.5"), ("+2", "2"), ("-3.25", "-3.25"),
    ("007", "7"), ("123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789"),
])
def test_parse_accepts_plain_decimal_strings(text, value):
    assert parse_decimal(text) == Decimal(value)


@pytest.mark.parametrize("bad", ["NaN", "nan", "Infinity", "-inf", "1e3", "1E-7", "1.5e0", "",
                                 " 1", "1 ", ".5", "5.", "1,5", "0x10", "1_000", "--1"])
def test_parse_rejects_everything_else(bad):
    with pytest.raises(FormatError) as e:
        parse_decimal(bad, field="x.y")
    assert "x.y" in str(e.value) and "\n" not in str(e.value)


def test_parse_rejects_floats_and_bools_but_accepts_ints_and_decimals():
    with pytest.raises(FormatError, match="binary float"):
        parse_decimal(1.5, field="f")
    with pytest.raises(FormatError, match="boolean"):
        parse_decimal(True, field="f")
    assert parse_decimal(15) == 15
    assert parse_decimal(Decimal("1.5")) == Decimal("1.5")
    with pytest.raises(FormatError):
        parse_decimal(Decimal("NaN"))
    with pytest.raises(FormatError):
        parse_decimal(None)


def test_json_numbers_are_parsed_from_their_text_never_through_float():
    doc = loads_json('{"a": 0.1, "b": 12345678901234567890.123456789, "c": 7}')
    assert doc["a"] == Decimal("0.1")  # float would give 0.1000000000000000055...
    assert parse_decimal(doc["b"]) == Decimal("12345678901234567890.123456789")
    assert parse_decimal(doc["c"]) == 7


def test_json_number_with_exponent_is_rejected_neighbour_accepted():
    doc = loads_json('{"a": 1e3, "b": 1000}')
    with pytest.raises(FormatError, match="exponent"):
        parse_decimal(doc["a"], field="a")
    assert parse_decimal(doc["b"], field="b") == 1000


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}'])
def test_json_nan_and_infinity_are_rejected(text):
    with pytest.raises(FormatError, match="NaN or infinities"):
        loads_json(text, source="snap.json")


def test_json_duplicate_keys_and_syntax_errors(tmp_path):
    with pytest.raises(FormatError, match="duplicate key 'a'"):
        loads_json('{"a": 1, "a": 2}')
    assert loads_json('{"a": 1, "b": 2}') == {"a": 1, "b": 2}
    with pytest.raises(FormatError, match="not valid JSON") as e:
        loads_json("{", source="p.json")
    assert str(e.value).startswith("p.json: ")
    with pytest.raises(FormatError, match="cannot read"):
        load_json_file(tmp_path / "missing.json")
    f = tmp_path / "ok.json"
    f.write_bytes(b'{"x": "1.5"}')
    assert load_json_file(f) == {"x": "1.5"}
    with pytest.raises(FormatError, match="UTF-8"):
        loads_json(b"\xff\xfe")


def test_precision_error_names_field_kind_and_counts():
    with pytest.raises(PrecisionError) as e:
        parse_decimal("0.1234567", field="positions[2].size", scale=6, kind="size")
    msg = str(e.value)
    assert "positions[2].size" in msg
    assert "7 decimals, the policy allows 6 for size" in msg
    assert "0.1234567" not in msg  # never the (private) value
    # neighbour: 6 decimals, and trailing zeros beyond the scale, are fine
    assert parse_decimal("0.123456", scale=6) == Decimal("0.123456")
    assert parse_decimal("0.1234560000", scale=6) == Decimal("0.123456")


def test_decimals_of_and_check_scale():
    assert decimals_of(Decimal("1.50")) == 1
    assert decimals_of(Decimal("100")) == 0
    assert decimals_of(Decimal("1E+2")) == 0
    assert decimals_of(Decimal("0.000")) == 0
    assert check_scale(Decimal("1.25"), 2) == Decimal("1.25")
    with pytest.raises(PrecisionError):
        check_scale(Decimal("1.255"), 2)


def test_fixed_point_round_trip_and_exactness():
    assert to_fixed(Decimal("1.5"), 3) == 1500
    assert to_fixed(Decimal("-0.001"), 3) == -1
    assert from_fixed(1500, 3) == Decimal("1.5")
    with pytest.raises(PrecisionError):
        to_fixed(Decimal("0.0001"), 3)


def test_canonical_spelling():
    assert canonical(Decimal("0")) == "0"
    assert canonical(Decimal("-0.00")) == "0"
    assert canonical(Decimal("1.50")) == "1.5"
    assert canonical(Decimal("1E+3")) == "1000"
    assert canonical(Decimal("-12.3400")) == "-12.34"
    assert canonical(Decimal("0.000001")) == "0.000001"
    assert canonical(Decimal("123456789012345678901234567890")) == "123456789012345678901234567890"


def test_quantize_modes():
    assert quantize(Decimal("1.231"), 2, "up") == Decimal("1.24")
    assert quantize(Decimal("-1.231"), 2, "up") == Decimal("-1.23")
    assert quantize(Decimal("1.239"), 2, "down") == Decimal("1.23")
    assert quantize(Decimal("-1.231"), 2, "down") == Decimal("-1.24")
    assert quantize(Decimal("1.225"), 2, "half_even") == Decimal("1.22")
    assert quantize(Decimal("1.235"), 2, "half_even") == Decimal("1.24")
    assert quantize(Decimal("1.23"), 2, "up") == Decimal("1.23")
    with pytest.raises(FormatError):
        quantize(Decimal(1), 2, "sideways")


@settings(max_examples=200, deadline=None)
@given(n=st.integers(min_value=-(2 ** 80), max_value=2 ** 80), scale=st.integers(0, 18))
def test_round_trip_through_canonical_string(n, scale):
    d = from_fixed(n, scale)
    text = canonical(d)
    assert "E" not in text and "e" not in text
    back = parse_decimal(text, scale=scale)
    assert back == d
    assert to_fixed(back, scale) == n
    # the JSON-number spelling parses to the same value
    assert parse_decimal(loads_json(text)) == d


@settings(max_examples=200, deadline=None)
@given(n=st.integers(min_value=1, max_value=10 ** 12), scale=st.integers(0, 12),
       extra=st.integers(1, 6))
def test_excess_precision_is_always_rejected(n, scale, extra):
    if n % 10 == 0:
        n += 1  # make the last digit significant
    d = from_fixed(n, scale + extra)
    with pytest.raises(PrecisionError):
        parse_decimal(canonical(d), scale=scale, field="v")
    assert parse_decimal(canonical(d), scale=scale + extra) == d
