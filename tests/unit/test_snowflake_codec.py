"""How values travel to Snowflake columns and back (VARIANT as text or decoded, UTC timestamps)."""

from __future__ import annotations

import datetime as dt
import json
import math

import msgspec
import pytest

from riskscore.adapters.snowflake.codec import (
    CorruptValue,
    NaiveDatetime,
    decode_reason_codes,
    decode_values,
    encode_batch,
    from_utc_naive,
    timestamp_text,
    to_date,
    values_json,
)
from riskscore.domain.scoring import ReasonCode


def test_values_survive_json_including_nan_and_infinities() -> None:
    values = (0.0, 1.0 / 3.0, 1e-300, 1e308, math.inf, -math.inf, math.nan, -7.5)
    text = encode_batch([{"FEATURES": values_json(values)}])
    back = decode_values(json.loads(text)[0]["FEATURES"])
    assert back[:6] == values[:6]
    assert math.isnan(back[6])
    assert back[7] == -7.5


def test_values_decode_from_text_and_from_an_already_decoded_list() -> None:
    assert decode_values('[1.5,"NaN",2]')[0] == 1.5
    assert decode_values([1.5, "-Infinity"]) == (1.5, -math.inf)
    assert decode_values("[]") == ()


@pytest.mark.parametrize("raw", ['[1, "one"]', "{", '{"a": 1}'])
def test_corrupt_values_are_reported(raw: str) -> None:
    with pytest.raises(CorruptValue):
        decode_values(raw)


def test_reason_codes_decode_from_text_or_objects() -> None:
    codes = (ReasonCode(feature="rx_hit", contribution=0.25, value=1.0),)
    text = msgspec.json.encode(codes).decode()
    assert decode_reason_codes(text) == codes
    assert decode_reason_codes(json.loads(text)) == codes
    assert decode_reason_codes(None) == ()


def test_timestamps_are_utc_wall_clock_text_and_come_back_tagged_utc() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    when = dt.datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=plus_two)
    assert timestamp_text(when, "t") == "2024-05-01 12:00:00.123456"
    back = from_utc_naive(dt.datetime(2024, 5, 1, 12, 0, 0, 123456))
    assert back == when
    assert back.utcoffset() == dt.timedelta(0)


def test_a_naive_timestamp_is_refused_by_name() -> None:
    with pytest.raises(NaiveDatetime, match="scored_at"):
        timestamp_text(dt.datetime(2024, 5, 1), "scored_at")


def test_dates_accept_what_drivers_return() -> None:
    assert to_date(dt.date(2024, 1, 2)) == dt.date(2024, 1, 2)
    assert to_date(dt.datetime(2024, 1, 2, 3, 4)) == dt.date(2024, 1, 2)
    assert to_date("2024-01-02") == dt.date(2024, 1, 2)
    with pytest.raises(CorruptValue):
        to_date(20240102)
