"""Lagan SOAP/XML cases read into the raw record shape, with a hardened parser."""

from __future__ import annotations

import pytest

from mappings.errors import RecordFormatError
from mappings.xml_records import parse_lagan_xml
from tests.mappings.conftest import FIXTURES, record


def test_envelope_is_read_into_the_same_shape_as_the_json_record() -> None:
    raw = parse_lagan_xml((FIXTURES / "lagan_case.xml").read_bytes())
    expected = record("lagan_case.json")
    assert raw["Form"] == expected["Form"]
    assert raw["CoreDetails"]["AssociatedObject"]["ObjectDescription"] == "Jane Smith"
    assert raw["CoreDetails"]["Classification"] == {"Classifier": ["roads"]}


def test_repeatable_elements_are_lists_even_with_one_item() -> None:
    raw = parse_lagan_xml(
        b"<FWTCaseFullDetails><Form><FormField><Key>A</Key><Value>1</Value></FormField>"
        b"</Form></FWTCaseFullDetails>"
    )
    assert raw == {"Form": {"FormField": [{"Key": "A", "Value": "1"}]}}


def test_empty_elements_are_empty_strings() -> None:
    raw = parse_lagan_xml(
        b"<FWTCaseFullDetails><CoreDetails><Title/></CoreDetails></FWTCaseFullDetails>"
    )
    assert raw == {"CoreDetails": {"Title": ""}}


def test_a_doctype_is_refused_before_any_entity_is_expanded() -> None:
    attack = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b"<FWTCaseFullDetails><CoreDetails><Title>&e;</Title></CoreDetails></FWTCaseFullDetails>"
    )
    with pytest.raises(RecordFormatError, match="DOCTYPE is refused"):
        parse_lagan_xml(attack)


def test_malformed_xml_names_the_line() -> None:
    with pytest.raises(RecordFormatError, match="not well-formed XML at line 2"):
        parse_lagan_xml(b"<FWTCaseFullDetails>\n<CoreDetails></Core>")


def test_xml_without_a_case_is_refused() -> None:
    with pytest.raises(RecordFormatError, match="no FWTCaseFullDetails element"):
        parse_lagan_xml(b"<Envelope><Body><Other/></Body></Envelope>")
