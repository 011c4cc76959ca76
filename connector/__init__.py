"""Talking to the CRM: SOAP and REST clients, auth, deadlines, retries, residency, CRM errors."""
