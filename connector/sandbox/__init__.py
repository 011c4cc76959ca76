"""The sandbox CRM: a runnable Lagan-style SOAP and Dataverse-style REST CRM for demos and tests."""
