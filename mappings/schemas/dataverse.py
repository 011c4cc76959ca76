"""Dynamics 365 / Dataverse: what its `incidents` records contain, column by column.

Custom columns carry a publisher prefix (`cr_...`); system columns and lookup values
(`_x_value`) are read-only; lookups are written as `<name>@odata.bind`. Values arrive as JSON
types. Every incident carries `modifiedon`, the time Dataverse last changed it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from mappings.paths import CrmPath
from mappings.schemas.base import CrmSchema, Tree, Verdict, check_tree, close, leaves

COLUMNS = frozenset(
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
COLLECTIONS: dict[str, frozenset[str]] = {
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
    ),
    # The case resolutions (`incidentresolution` activities) that CloseIncident creates.
    "Incident_IncidentResolutions": frozenset(
        {
            "activityid",
            "subject",
            "description",
            "statecode",
            "statuscode",
            "actualend",
            "createdon",
            "_incidentid_value",
        }
    ),
}
CONTACT_COLUMNS = frozenset(
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
OPTION: dict[str, Tree] = {
    **leaves("Value", "ExternalValue", "Color", "IsManaged", "ParentValues"),
    "Label": {"UserLocalizedLabel": leaves("Label", "LanguageCode"), "LocalizedLabels": None},
    "Description": None,
}
# Navigation properties a connector may `$expand`; their columns are read as `nav.column`.
NAVIGATION = frozenset({"customerid_contact", "customerid_account", "primarycontactid"})
READ_ONLY = frozenset(
    {"incidentid", "createdon", "modifiedon", "ticketnumber", "versionnumber", "statecode"}
)
#: Columns a create may set and an update may not (`overriddencreatedon` backdates a migrated
#: record's `createdon`, once).
CREATE_ONLY = frozenset({"overriddencreatedon"})
_CUSTOM_COLUMN = re.compile(r"^[a-z][a-z0-9]*_[a-z0-9_]+$")


@dataclass(frozen=True)
class DataverseSchema(CrmSchema):
    """Dataverse's `incidents`, their annotations, contacts and option-set options."""

    name = "dynamics365"
    title = "Dynamics 365"
    text_leaves = False
    modified_at_path = "modifiedon"

    def check_read(self, path: CrmPath) -> Verdict:
        if self.record == "case":
            if path.steps[0].name in COLLECTIONS:
                return _check_item_column(path)
            return _check_column(path, read=True)
        if self.record == "code_book":
            return check_tree(path, OPTION, "an option-set option")
        columns = CONTACT_COLUMNS if self.record == "party" else COLLECTIONS[self.record]
        return _check_plain(path, columns, self.record)

    def check_write(self, path: CrmPath, *, for_update: bool) -> Verdict:
        if for_update and path.steps[0].name in CREATE_ONLY:
            return (f"Dataverse column `{path.steps[0].name}` can be set at create only", None)
        return _check_column(path, read=False, for_update=for_update)

    def case_lists(self) -> Sequence[str]:
        return tuple(COLLECTIONS)


def _check_item_column(path: CrmPath) -> Verdict:
    """`<collection>[N].<column>`: one column of one expanded related record."""
    first = path.steps[0]
    if len(path.steps) != 2 or first.index is None or path.steps[1].selects:
        return (
            f"`{first.name}` is a list: map it with `items`, or read one item's column "
            f"(`{first.name}[0].<column>`)",
            None,
        )
    return _check_plain(CrmPath(path.steps[1].name), COLLECTIONS[first.name], first.name)


def _check_plain(path: CrmPath, columns: frozenset[str], record: str) -> Verdict:
    column = path.steps[0].name
    if len(path.steps) > 1 or path.steps[0].selects:
        return (f"a Dataverse column is one name, not a nested path (`{path.text}`)", None)
    if column not in columns and not _CUSTOM_COLUMN.match(column):
        return (
            f"`{column}` is not a column of the {record} records",
            close(column, sorted(columns)) or f"expected one of {', '.join(sorted(columns))}",
        )
    return None


def _check_column(path: CrmPath, *, read: bool, for_update: bool = False) -> Verdict:
    column = path.steps[0].name
    if not read and column in NAVIGATION and len(path.steps) == 2:
        # A deep insert: the related record is created with the case (create only).
        if for_update or path.steps[0].selects or path.steps[1].selects:
            return (
                f"`{path.text}` writes into the related record: that is only possible when "
                "the case is created (a deep insert)",
                None,
            )
        return None
    if read and column in NAVIGATION and len(path.steps) == 2:
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
    if column not in COLUMNS and not _CUSTOM_COLUMN.match(column):
        return (
            f"`{column}` is neither an `incidents` column nor a prefixed custom column",
            close(column, sorted(COLUMNS)) or "custom columns look like `cr_memberid`",
        )
    if not read and (column in READ_ONLY or column.startswith("_")):
        return (
            f"Dataverse column `{column}` is read-only",
            "bind lookups with `<name>@odata.bind`, or make the field `direction: inbound`",
        )
    if read and column.endswith("@odata.bind"):
        return (f"`{column}` is write-only; read the lookup as `_<name>_value`", None)
    return None


SCHEMA = DataverseSchema()

__all__ = [
    "COLLECTIONS",
    "COLUMNS",
    "CONTACT_COLUMNS",
    "CREATE_ONLY",
    "NAVIGATION",
    "OPTION",
    "READ_ONLY",
    "SCHEMA",
    "DataverseSchema",
]
