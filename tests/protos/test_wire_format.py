"""The tf.Example protos: TF's wire format, worked out by hand."""

from __future__ import annotations

import struct

from mlengine import protos

Example = protos.message("tensorflow.Example")
FloatList = protos.message("tensorflow.FloatList")
Int64List = protos.message("tensorflow.Int64List")


def test_an_example_serializes_to_tensorflows_bytes() -> None:
    # Example{features(1){feature(1) entry{key(1) "a", value(2) Feature{float_list(2)
    # {value(1) packed [1.0]}}}}}, worked out from the field numbers and wire types:
    floats = b"\x0a\x04" + struct.pack("<f", 1.0)  # FloatList: packed field 1, 4 bytes
    feature = b"\x12" + bytes([len(floats)]) + floats  # Feature.float_list = 2
    entry = b"\x0a\x01a" + b"\x12" + bytes([len(feature)]) + feature  # map entry key/value
    features = b"\x0a" + bytes([len(entry)]) + entry  # Features.feature = 1
    expected = b"\x0a" + bytes([len(features)]) + features  # Example.features = 1
    example = Example()
    example.features.feature["a"].float_list.value.append(1.0)
    assert example.SerializeToString() == expected
    assert Example.FromString(expected) == example


def test_negative_int64_is_a_ten_byte_varint_and_unpacked_values_parse() -> None:
    assert Int64List(value=[-1]).SerializeToString() == b"\x0a\x0a" + b"\xff" * 9 + b"\x01"
    # Unpacked floats (a tag 0x0d per value) are what old writers produced; both parse.
    unpacked = b"\x0d" + struct.pack("<f", 2.5) + b"\x0d" + struct.pack("<f", -1.0)
    assert list(FloatList.FromString(unpacked).value) == [2.5, -1.0]
