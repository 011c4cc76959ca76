"""What each CRM lets a mapping read and write, so a mapping file is checked before any call.

Lagan: element names from the FL WSDL (FWTCaseFullDetails for reads; FWTCaseCreate and
FWTCaseUpdate for writes). Dataverse: `incidents` columns; custom columns carry a publisher
prefix (`cr_...`); system columns and lookup values (`_x_value`) are read-only.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from mappings.paths import CrmPath

# A tree of element names: a dict of children, or None for "anything below is allowed".
Tree = dict[str, "Tree"] | None
_LEAF: Tree = {}


def _leaves(*names: str) -> dict[str, Tree]:
    return dict.fromkeys(names, _LEAF)


_OBJECT_ID = _leaves("ObjectType", "ObjectReference")
_OBJECT_BRIEF: dict[str, Tree] = {
    "ObjectID": _OBJECT_ID,
    "ObjectDescription": _LEAF,
    "Details": _LEAF,
    "Category": _LEAF,
}
_FORM: dict[str, Tree] = {
    "FormField": _leaves("Key", "Value", "Label", "Type", "Format"),
    "FormName": _LEAF,
    "FormKey": _LEAF,
}
_CORE: dict[str, Tree] = {
    **_leaves(
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
LAGAN_READ: dict[str, Tree] = {
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
LAGAN_CREATE: dict[str, Tree] = {
    **_leaves(
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
LAGAN_UPDATE: dict[str, Tree] = {
    **_leaves(
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

_USER = _leaves("UserID", "UserName")
# Sub-records a list field or a section reads (FL WSDL types), keyed by what they are.
LAGAN_RECORDS: dict[str, dict[str, Tree]] = {
    "Notes.Note": {**_leaves("NoteID", "Text", "Created"), "CreatedBy": _USER},
    "Events.CaseEvent": {
        **_leaves("EventTitle", "Created", "AdditionalInfo", "CaseQueue"),
        "HandledBy": _USER,
    },
    # search_parties gives FWTObjectBriefDetails, get_party FWTIndividual (which carries the
    # brief details under BriefDetails): a party mapping reads either.
    "party": {
        **_OBJECT_BRIEF,
        "BriefDetails": _OBJECT_BRIEF,
        "Name": _leaves(
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
        "ContactPostals": _leaves(
            "AddressID",
            "AddressNumber",
            "AddressLine",
            "Postcode",
            "Usage",
            "UPRN",
            "City",
            "Preferred",
        ),
        "ContactEmails": _leaves("EmailID", "EmailAddress", "Usage", "Preferred"),
        "ContactPhones": _leaves("PhoneID", "Number", "DeviceType", "Usage", "Preferred"),
        "AuditDetails": None,
        "SurveyConsent": _LEAF,
        "DateOfBirth": _LEAF,
        "Gender": _LEAF,
    },
    "code_book": _leaves(
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

DATAVERSE_COLUMNS = frozenset(
    {
        "incidentid",
        "ticketnumber",
        "title",
        "description",
        "caseorigincode",
        "casetypecode",
        "prioritycode",
        "severitycode",
        "statecode",
        "statuscode",
        "createdon",
        "modifiedon",
        "followupby",
        "resolveby",
        "responseby",
        "_customerid_value",
        "_primarycontactid_value",
        "_ownerid_value",
        "_subjectid_value",
        "customerid_contact@odata.bind",
        "customerid_account@odata.bind",
        "primarycontactid@odata.bind",
        "subjectid@odata.bind",
        "versionnumber",
        "overriddencreatedon",
    }
)
# Collection-valued navigation properties a connector may `$expand` (one list per case).
DATAVERSE_COLLECTIONS: dict[str, frozenset[str]] = {
    "Incident_Annotation": frozenset(
        {
            "annotationid",
            "subject",
            "notetext",
            "filename",
            "mimetype",
            "filesize",
            "isdocument",
            "createdon",
            "modifiedon",
            "_createdby_value",
            "_objectid_value",
            "objecttypecode",
        }
    )
}
DATAVERSE_CONTACT_COLUMNS = frozenset(
    {
        "contactid",
        "firstname",
        "lastname",
        "fullname",
        "salutation",
        "emailaddress1",
        "emailaddress2",
        "telephone1",
        "mobilephone",
        "address1_line1",
        "address1_line2",
        "address1_city",
        "address1_postalcode",
        "createdon",
        "modifiedon",
    }
)
DATAVERSE_OPTION: dict[str, Tree] = {
    **_leaves("Value", "ExternalValue", "Color", "IsManaged", "ParentValues"),
    "Label": {"UserLocalizedLabel": _leaves("Label", "LanguageCode"), "LocalizedLabels": None},
    "Description": None,
}
# Navigation properties a connector may `$expand`; their columns are read as `nav.column`.
DATAVERSE_NAVIGATION = frozenset({"customerid_contact", "customerid_account", "primarycontactid"})
DATAVERSE_READ_ONLY = frozenset({"createdon", "modifiedon", "ticketnumber", "versionnumber"})
_CUSTOM_COLUMN = re.compile(r"^[a-z][a-z0-9]*_[a-z0-9_]+$")


def _close(word: str, choices: list[str]) -> str | None:
    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean `{matches[0]}`?" if matches else None


def _check_tree(path: CrmPath, tree: dict[str, Tree], where: str) -> tuple[str, str | None] | None:
    """None when `path` fits `tree`; else (what is wrong, suggestion)."""
    level: Tree = tree
    for depth, name in enumerate(path.names):
        if level is None:
            return None
        if name not in level:
            parent = ".".join(path.names[:depth])
            choices = sorted(level)
            if not choices:
                return (f"`{parent}` is a value and has no element `{name}`", None)
            return (
                f"{where} has no element `{name}` under `{parent}`"
                if parent
                else f"{where} has no element `{name}`",
                _close(name, choices) or f"expected one of {', '.join(choices)}",
            )
        level = level[name]
    return None


@dataclass(frozen=True)
class CrmSchema:
    """Read and write rules of one CRM, for validating mapping files and shaping payloads."""

    name: str
    title: str
    text_leaves: bool  # raw records hold every leaf as text (Lagan) rather than JSON types
    record: str = "case"  # what a path is read from: the case, or a sub-record kind

    def check_read(self, path: CrmPath) -> tuple[str, str | None] | None:
        if self.name == "lagan":
            if self.record == "case":
                return _check_tree(path, LAGAN_READ, "FWTCaseFullDetails")
            return _check_tree(path, LAGAN_RECORDS[self.record], _LAGAN_TITLES[self.record])
        if self.record == "case":
            if path.steps[0].name in DATAVERSE_COLLECTIONS:
                return (f"`{path.steps[0].name}` is a list: map it with `items`", None)
            return _check_column(path, read=True)
        if self.record == "code_book":
            return _check_tree(path, DATAVERSE_OPTION, "an option-set option")
        columns = (
            DATAVERSE_CONTACT_COLUMNS
            if self.record == "party"
            else DATAVERSE_COLLECTIONS[self.record]
        )
        return _check_plain(path, columns, self.record)

    def item_schema(self, path: CrmPath) -> CrmSchema | tuple[str, str | None]:
        """The schema of one item of the list at `path` (of a case), or what is wrong."""
        known = sorted(LAGAN_RECORDS_LISTS if self.name == "lagan" else DATAVERSE_COLLECTIONS)
        if any(step.selects for step in path.steps) or path.text not in known:
            return (
                f"`{path.text}` is not a list {self.title} gives with a case",
                _close(path.text, known) or f"expected one of {', '.join(known)}",
            )
        return self.section(path.text)

    def section(self, record: str) -> CrmSchema:
        """The schema for reading `record` sub-records (`party`, `code_book`, a list path)."""
        return CrmSchema(self.name, self.title, self.text_leaves, record)

    def check_write(self, path: CrmPath, *, for_update: bool) -> tuple[str, str | None] | None:
        if self.name == "lagan":
            if for_update:
                return _check_tree(path, LAGAN_UPDATE, "FWTCaseUpdate")
            return _check_tree(path, LAGAN_CREATE, "FWTCaseCreate")
        return _check_column(path, read=False)


LAGAN_RECORDS_LISTS = ("Events.CaseEvent", "Notes.Note")
_LAGAN_TITLES = {
    "Notes.Note": "FWTNote",
    "Events.CaseEvent": "FWTCaseEvent",
    "party": "FWTIndividual/FWTObjectBriefDetails",
    "code_book": "FWTCode",
}


def _check_plain(
    path: CrmPath, columns: frozenset[str], record: str
) -> tuple[str, str | None] | None:
    column = path.steps[0].name
    if len(path.steps) > 1 or path.steps[0].selects:
        return (f"a Dataverse column is one name, not a nested path (`{path.text}`)", None)
    if column not in columns and not _CUSTOM_COLUMN.match(column):
        return (
            f"`{column}` is not a column of the {record} records",
            _close(column, sorted(columns)) or f"expected one of {', '.join(sorted(columns))}",
        )
    return None


def _check_column(path: CrmPath, *, read: bool) -> tuple[str, str | None] | None:
    column = path.steps[0].name
    if read and column in DATAVERSE_NAVIGATION and len(path.steps) == 2:
        return (
            None
            if not any(step.selects for step in path.steps)
            else (
                f"`{path.text}` selects inside an expanded record; name the column only",
                None,
            )
        )
    if len(path.steps) > 1 or path.steps[0].selects:
        return (f"a Dataverse column is one name, not a nested path (`{path.text}`)", None)
    if column not in DATAVERSE_COLUMNS and not _CUSTOM_COLUMN.match(column):
        return (
            f"`{column}` is neither an `incidents` column nor a prefixed custom column",
            _close(column, sorted(DATAVERSE_COLUMNS)) or "custom columns look like `cr_memberid`",
        )
    if not read and (column in DATAVERSE_READ_ONLY or column.startswith("_")):
        return (
            f"Dataverse column `{column}` is read-only",
            "bind lookups with `<name>@odata.bind`, or make the field `direction: inbound`",
        )
    if read and column.endswith("@odata.bind"):
        return (f"`{column}` is write-only; read the lookup as `_<name>_value`", None)
    return None


SCHEMAS: dict[str, CrmSchema] = {
    "lagan": CrmSchema("lagan", "Lagan FL", text_leaves=True),
    "dynamics365": CrmSchema("dynamics365", "Dynamics 365", text_leaves=False),
}

__all__ = ["SCHEMAS", "CrmSchema"]
