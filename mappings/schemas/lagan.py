"""Lagan / Verint FL: what its SOAP records contain, from the FL WSDL.

Reads: `FWTCaseFullDetails` (and the sub-records listed in `RECORDS`); writes: `FWTCaseCreate`
and `FWTCaseUpdate`. Every leaf arrives as text. A Lagan case carries no last-modified time
(docs/raw-records.md), so `modified_at_path` is None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mappings.paths import CrmPath
from mappings.schemas.base import LEAF, CrmSchema, Tree, Verdict, check_tree, leaves

_OBJECT_ID = leaves("ObjectType", "ObjectReference")
_OBJECT_BRIEF: dict[str, Tree] = {
    "ObjectID": _OBJECT_ID,
    "ObjectDescription": LEAF,
    "Details": LEAF,
    "Category": LEAF,
}
_FORM: dict[str, Tree] = {
    "FormField": leaves("Key", "Value", "Label", "Type", "Format"),
    "FormName": LEAF,
    "FormKey": LEAF,
}
_CORE: dict[str, Tree] = {
    **leaves(
        "CaseReference",
        "Status",
        "Opened",
        "Closed",
        "Title",
        "Category",
        "CategoryDescription",
        "CategoryNameKey",
        "CategoryNameValue",
        "Priority",
        "Severity",
        "WorkflowCase",
        "Internal",
        "Description",
        "Queue",
        "DueDate",
        "XCoord",
        "YCoord",
    ),
    "RaisedByUser": None,
    "CurrentHandler": None,
    "Classification": {"Classifier": None},
    "AssociatedObject": _OBJECT_BRIEF,
}
READ: dict[str, Tree] = {
    "CoreDetails": _CORE,
    "Form": _FORM,
    "Events": None,
    "Tasks": None,
    "Workflow": None,
    "Notes": None,
    "Eforms": None,
    "Interactions": None,
    "EformData": None,
    "LinkCases": None,
}
CREATE: dict[str, Tree] = {
    **leaves(
        "ClassificationEventCode",
        "Priority",
        "Title",
        "Description",
        "Queue",
        "DueDate",
        "Internal",
        "InteractionID",
        "XCoord",
        "YCoord",
    ),
    "AssociatedObject": _OBJECT_BRIEF,
    "Form": _FORM,
    "Parent": None,
}
UPDATE: dict[str, Tree] = {
    **leaves(
        "CaseReference",
        "Priority",
        "Severity",
        "Title",
        "Description",
        "Queue",
        "DueDate",
        "Internal",
        "NewNote",
        "NewCaseReference",
        "XCoord",
        "YCoord",
    ),
    "AssociatedObject": _OBJECT_ID,  # FWTObjectID here, FWTObjectBriefDetails on create
    "CurrentHandler": None,
    "Form": _FORM,
    "Parent": None,
}

_USER = leaves("UserID", "UserName")
# Sub-records a list field or a section reads (FL WSDL types), keyed by what they are.
RECORDS: dict[str, dict[str, Tree]] = {
    "Notes.Note": {**leaves("NoteID", "Text", "Created"), "CreatedBy": _USER},
    "Events.CaseEvent": {
        **leaves("EventTitle", "Created", "AdditionalInfo", "CaseQueue"),
        "HandledBy": _USER,
    },
    # search_parties gives FWTObjectBriefDetails, get_party FWTIndividual (which carries the
    # brief details under BriefDetails): a party mapping reads either.
    "party": {
        **_OBJECT_BRIEF,
        "BriefDetails": _OBJECT_BRIEF,
        "Name": leaves(
            "NameID",
            "Title",
            "Forename",
            "Initials",
            "Surname",
            "Suffix",
            "FullName",
            "RequestedName",
            "DisplayType",
            "Preferred",
        ),
        "ContactPostals": leaves(
            "AddressID",
            "AddressNumber",
            "AddressLine",
            "Postcode",
            "Usage",
            "UPRN",
            "City",
            "Preferred",
        ),
        "ContactEmails": leaves("EmailID", "EmailAddress", "Usage", "Preferred"),
        "ContactPhones": leaves("PhoneID", "Number", "DeviceType", "Usage", "Preferred"),
        "AuditDetails": None,
        "SurveyConsent": LEAF,
        "DateOfBirth": LEAF,
        "Gender": LEAF,
    },
    "code_book": leaves(
        "CodeID",
        "CodeKey",
        "CodeValue",
        "Description",
        "CodeBookName",
        "StartDate",
        "EndDate",
        "CodeGroup1",
        "CodeGroup2",
        "CodeGroup3",
        "Attribute1",
        "Attribute2",
        "Attribute3",
    ),
}
CASE_LISTS = ("Events.CaseEvent", "Notes.Note")
_TITLES = {
    "Notes.Note": "FWTNote",
    "Events.CaseEvent": "FWTCaseEvent",
    "party": "FWTIndividual/FWTObjectBriefDetails",
    "code_book": "FWTCode",
}


@dataclass(frozen=True)
class LaganSchema(CrmSchema):
    """Lagan FL's records, checked element by element against the WSDL's types."""

    name = "lagan"
    title = "Lagan FL"
    text_leaves = True
    modified_at_path = None

    def check_read(self, path: CrmPath) -> Verdict:
        if self.record == "case":
            return check_tree(path, READ, "FWTCaseFullDetails")
        return check_tree(path, RECORDS[self.record], _TITLES[self.record])

    def check_write(self, path: CrmPath, *, for_update: bool) -> Verdict:
        if for_update:
            return check_tree(path, UPDATE, "FWTCaseUpdate")
        return check_tree(path, CREATE, "FWTCaseCreate")

    def case_lists(self) -> Sequence[str]:
        return CASE_LISTS


SCHEMA = LaganSchema()

__all__ = ["CASE_LISTS", "CREATE", "READ", "RECORDS", "SCHEMA", "UPDATE", "LaganSchema"]
