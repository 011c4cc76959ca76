"""The caseload record model and the mapping engine between CRM records and caseload records."""
