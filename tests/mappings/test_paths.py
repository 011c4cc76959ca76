"""CRM paths: parsed once, then read and written in nested records."""

from __future__ import annotations

import pytest

from mappings.paths import CrmPath, PathSyntaxError

FORM = {
    "Form": {
        "FormField": [{"Key": "MemberId", "Value": "cllr-1"}, {"Key": "WardId", "Value": "w-2"}]
    }
}


def test_selection_finds_the_item_whose_key_matches() -> None:
    assert CrmPath("Form.FormField[Key=WardId].Value").get(FORM) == "w-2"


def test_selection_without_a_matching_item_reads_as_absent() -> None:
    assert CrmPath("Form.FormField[Key=Sharing].Value").get(FORM) is None


def test_index_reads_the_nth_item_and_out_of_range_is_absent() -> None:
    record = {"Ids": ["a", "b"]}
    assert CrmPath("Ids[1]").get(record) == "b"
    assert CrmPath("Ids[5]").get(record) is None


def test_missing_intermediate_record_reads_as_absent() -> None:
    assert (
        CrmPath("CoreDetails.AssociatedObject.ObjectDescription").get({"CoreDetails": {}}) is None
    )


def test_selection_treats_a_single_record_as_a_list_of_one() -> None:
    record = {"Form": {"FormField": {"Key": "MemberId", "Value": "cllr-1"}}}
    assert CrmPath("Form.FormField[Key=MemberId].Value").get(record) == "cllr-1"


def test_writing_a_selection_appends_one_key_value_item_per_key() -> None:
    payload: dict[str, object] = {}
    CrmPath("Form.FormField[Key=MemberId].Value").set(payload, "cllr-1")
    CrmPath("Form.FormField[Key=WardId].Value").set(payload, "w-2")
    CrmPath("Form.FormField[Key=MemberId].Value").set(payload, "cllr-9")
    assert payload == {
        "Form": {
            "FormField": [{"Key": "MemberId", "Value": "cllr-9"}, {"Key": "WardId", "Value": "w-2"}]
        }
    }


def test_writing_an_index_pads_the_list() -> None:
    payload: dict[str, object] = {}
    CrmPath("A.Refs[1]").set(payload, "x")
    assert payload == {"A": {"Refs": [{}, "x"]}}


def test_odata_annotation_stays_inside_its_segment() -> None:
    path = CrmPath("customerid_contact@odata.bind")
    assert path.names == ("customerid_contact@odata.bind",)
    payload: dict[str, object] = {}
    path.set(payload, "/contacts(1)")
    assert payload == {"customerid_contact@odata.bind": "/contacts(1)"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Form.FormField[Key=X]", "ends in a selection"),
        ("A[Key=]", "needs `Key=Value`"),
        ("A[x]", "neither an index nor `Key=Value`"),
        ("A..B", "is not `Name`, `Name[N]` or `Name[Key=Value]`"),
        (" A", "no surrounding spaces"),
        ("A[1][2]", "more than one selector"),
    ],
)
def test_malformed_paths_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(PathSyntaxError, match=message.replace("[", r"\[").replace("]", r"\]")):
        CrmPath(text)


def test_a_shared_cache_gives_the_same_answers_as_scanning() -> None:
    record = {
        "Form": {
            "FormField": [
                {"Key": "A", "Value": "first"},
                {"Key": "B", "Value": "b"},
                {"Key": "A", "Value": "second"},
            ]
        }
    }
    cache: dict[tuple[int, str], dict[object, object]] = {}
    for text in (
        "Form.FormField[Key=A].Value",
        "Form.FormField[Key=B].Value",
        "Form.FormField[Key=C].Value",
    ):
        path = CrmPath(text)
        assert path.get(record, cache) == path.get(record)
    assert CrmPath("Form.FormField[Key=A].Value").get(record, cache) == "first"
    assert len(cache) == 1  # one index for the one list, built once


READER_CASES = [
    ({"title": "Pothole"}, "title"),
    ({"title": None}, "title"),
    ("not a record", "title"),
    ({"CoreDetails": {"Title": "Bins"}}, "CoreDetails.Title"),
    ({"CoreDetails": "flat"}, "CoreDetails.Title"),
    (FORM, "Form.FormField[Key=WardId].Value"),
    (FORM, "Form.FormField[Key=Sharing].Value"),
    (
        {"Form": {"FormField": {"Key": "WardId", "Value": "w-9"}}},
        "Form.FormField[Key=WardId].Value",
    ),
    ({"Form": {"FormField": "flat"}}, "Form.FormField[Key=WardId].Value"),
    (
        {"Form": {"FormField": [{"Key": "WardId", "Value": "a"}, {"Key": "WardId"}]}},
        "Form.FormField[Key=WardId].Value",
    ),
    ({"Ids": ["a", "b"]}, "Ids[1]"),
]


@pytest.mark.parametrize(("record", "text"), READER_CASES)
def test_the_specialised_reader_reads_what_get_reads(record: object, text: str) -> None:
    path = CrmPath(text)
    read = path.reader()
    assert read(record, None) == path.get(record)
    assert read(record, {}) == path.get(record, {})
