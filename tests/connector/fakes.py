"""Hand-made Lagan FL answers for `responses`: envelopes and faults for tests of the wire format.

Behaviour (searches, creates, faults under load) is tested against the sandbox CRM, which serves
the published contract; these only shape single answers.
"""

from __future__ import annotations

ENV = "http://schemas.xmlsoap.org/soap/envelope/"
FL = "http://www.lagan.com/wsdl/FLTypes"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
ENDPOINT = "http://127.0.0.1:8999/lagan/services/FL"
AUTH_ENDPOINT = "http://127.0.0.1:8999/lagan/services/FLAuth"


def envelope(body: str, header: str = "") -> bytes:
    head = f"<soapenv:Header>{header}</soapenv:Header>" if header else ""
    return (
        f'<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv="{ENV}" '
        f'xmlns:fl="{FL}">{head}<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>'
    ).encode()


def fault(code: int, message: str) -> bytes:
    return envelope(
        "<soapenv:Fault><faultcode>soapenv:Server</faultcode>"
        f"<faultstring>{message}</faultstring><detail><fl:FWTException>"
        f"<ErrorMessage>{message}</ErrorMessage><ErrorCode>{code}</ErrorCode>"
        "</fl:FWTException></detail></soapenv:Fault>"
    )


def case_xml(ref: str, portal_id: str, title: str, modified: str) -> str:
    """One case's full details as an FL answer holds them (for tests of answer limits)."""
    return (
        f"<fl:FWTCaseFullDetails><CoreDetails><fl:CaseReference>{ref}</fl:CaseReference>"
        f"<Status>open</Status><Opened>{modified}</Opened><RaisedByUser><UserID>svc</UserID>"
        f"</RaisedByUser><Classification><Classifier>roads</Classifier></Classification>"
        f"<Title>{title}</Title><Category>101</Category><Priority>2</Priority>"
        f"<Severity>1</Severity><WorkflowCase>false</WorkflowCase><Internal>false</Internal>"
        f"</CoreDetails><Form><FormField><Value>{portal_id}</Value><Key>PortalId</Key>"
        f"</FormField><FormName>MemberEnquiry</FormName></Form></fl:FWTCaseFullDetails>"
    )
