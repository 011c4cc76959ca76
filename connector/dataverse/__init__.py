"""Dynamics 365 / Dataverse (REST, OData v4): the client, its OAuth2 token and wire format.

Public parts: `DataverseClient` (the `CRMClient`), `OAuthToken` (client credentials through
MSAL), `odata_error`, `note_annotation_id` (the annotation ids derived from a note's idempotency
key) and `customer_contact_id` (the contact id of a new resident, derived from the case's
key). Importing the package registers the kind `dynamics365` with `connector.factory`.
Dataverse pushes no case events Caseload reads (its webhooks are not configured by the
portal), so none is registered.
"""

from connector.dataverse.auth import OAuthToken
from connector.dataverse.client import (
    NOTE_ID_NAMESPACE,
    DataverseClient,
    customer_contact_id,
    note_annotation_id,
)
from connector.dataverse.odata import KIND, odata_error
from connector.factory import register

register(KIND, builder=DataverseClient, label="Dynamics 365 / Dataverse")

__all__ = [
    "KIND",
    "NOTE_ID_NAMESPACE",
    "DataverseClient",
    "OAuthToken",
    "customer_contact_id",
    "note_annotation_id",
    "odata_error",
]
