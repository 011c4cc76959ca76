"""The Lagan FL SOAP front: WSDL serving, hardened envelope parsing, auth, dispatch, faults.

Requests are parsed with entities, DTDs and network access disabled, and any DOCTYPE is refused
outright, so the sandbox cannot be hurt by the XML attacks it is used to test clients against.
Responses are rendered from plain dicts through `schema.SchemaModel`, which follows the WSDL's
element order and qualification, so every body validates against the WSDL's schema.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lxml import etree

from connector.sandbox import schema
from connector.sandbox.app import AuthError, Request, Response, SandboxApp
from connector.sandbox.store import (
    CASE_STATUSES,
    NotFound,
    Record,
    StoreError,
    iso,
    parse_iso,
)

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
TOKEN_VALUE_TYPE = "http://www.lagan.com/wsdl/FLAuth#SessionToken"
BASE64_ENCODING = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
DEFAULT_RESULTS_LIMIT = 1000
MAX_RESULTS_LIMIT = 10000
_DOCTYPE = re.compile(rb"<!\s*DOCTYPE|<!\s*ENTITY", re.IGNORECASE)


class SoapFault(Exception):
    """An error answered as a SOAP fault with an FWTException detail."""

    def __init__(
        self, message: str, code: int, *, additional: str | None = None, http: int = 500
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.additional = additional
        self.http = http


# ------------------------------------------------------------------ envelopes
def envelope(
    body_el: etree._Element | None, header_els: list[etree._Element] | None = None
) -> bytes:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV})
    if header_els:
        header = etree.SubElement(env, f"{{{SOAP_ENV}}}Header")
        for el in header_els:
            header.append(el)
    body = etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
    if body_el is not None:
        body.append(body_el)
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def fault_envelope(fault: SoapFault, model: schema.SchemaModel) -> bytes:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV})
    body = etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
    flt = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(flt, "faultcode").text = (
        "soapenv:Server" if fault.http >= 500 else ("soapenv:Client")
    )
    etree.SubElement(flt, "faultstring").text = fault.message
    detail = etree.SubElement(flt, "detail")
    data: dict[str, Any] = {"ErrorMessage": fault.message, "ErrorCode": fault.code}
    if fault.additional:
        data["AdditionalInfo"] = fault.additional
    detail.append(model.render("FWTException", data))
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def axis_fault(exc: schema.InvalidElement) -> bytes:
    """Apache Axis 1.4's answer to an element a bean lacks: no FWTException detail."""
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV})
    body = etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
    flt = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(flt, "faultcode").text = "soapenv:Server.userException"
    etree.SubElement(flt, "faultstring").text = f"org.xml.sax.SAXException: {exc}"
    detail = etree.SubElement(flt, "detail")
    host = etree.SubElement(detail, "{http://xml.apache.org/axis/}hostname")
    host.text = "sandbox"
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def xml_response(status: int, payload: bytes, extra: dict[str, str] | None = None) -> Response:
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    headers.update(extra or {})
    return Response(status, headers, payload)


def security_header(token: str) -> etree._Element:
    sec = etree.Element(f"{{{WSSE}}}Security", nsmap={"wsse": WSSE, "wsu": WSU})
    bst = etree.SubElement(sec, f"{{{WSSE}}}BinarySecurityToken")
    bst.set("ValueType", TOKEN_VALUE_TYPE)
    bst.set("EncodingType", BASE64_ENCODING)
    bst.text = token
    return sec


def parse_envelope(body: bytes) -> tuple[etree._Element | None, etree._Element | None]:
    """(header, body child) of a SOAP 1.1 envelope; SoapFault for anything else."""
    if not body.strip():
        raise SoapFault("empty request: a SOAP 1.1 envelope is required", 1005, http=400)
    if _DOCTYPE.search(body):
        raise SoapFault("DOCTYPE and ENTITY declarations are refused", 1005, http=400)
    try:
        root = etree.fromstring(body, schema.safe_parser())
    except etree.XMLSyntaxError as exc:
        raise SoapFault(
            "request is not well-formed XML", 1005, additional=str(exc)[:200], http=400
        ) from None
    docinfo = root.getroottree().docinfo
    # `doctype` is missing from lxml-stubs; it is "" when the document declares none.
    doctype: str = getattr(docinfo, "doctype", "")
    if docinfo.internalDTD is not None or doctype:
        raise SoapFault("DOCTYPE and ENTITY declarations are refused", 1005, http=400)
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapFault("root element is not a SOAP 1.1 Envelope", 1005, http=400)
    header = root.find(f"{{{SOAP_ENV}}}Header")
    body_el = root.find(f"{{{SOAP_ENV}}}Body")
    if body_el is None:
        raise SoapFault("SOAP Envelope has no Body", 1005, http=400)
    children = [c for c in body_el if isinstance(c.tag, str)]
    if len(children) > 1:
        raise SoapFault("SOAP Body must hold exactly one element", 1005, http=400)
    return header, (children[0] if children else None)


def credentials(header: etree._Element | None) -> tuple[tuple[str, str] | None, str | None]:
    """((user, password) from a UsernameToken, BinarySecurityToken text) from the header."""
    if header is None:
        return None, None
    sec = header.find(f"{{{WSSE}}}Security")
    if sec is None:
        return None, None
    user_token = None
    ut = sec.find(f"{{{WSSE}}}UsernameToken")
    if ut is not None:
        pw_el = ut.find(f"{{{WSSE}}}Password")
        ptype = pw_el.get("Type", "") if pw_el is not None else ""
        if ptype and not ptype.endswith("#PasswordText"):
            raise AuthError("only PasswordText UsernameTokens are accepted")
        user_token = (
            ut.findtext(f"{{{WSSE}}}Username") or "",
            ut.findtext(f"{{{WSSE}}}Password") or "",
        )
    bst = sec.findtext(f"{{{WSSE}}}BinarySecurityToken")
    return user_token, (bst.strip() if bst else None)


# ---------------------------------------------------------------- dispatching
def _input_elements(wsdl: bytes) -> dict[str, str]:
    """Body element local name -> operation name, read from the WSDL's messages."""
    w = "{http://schemas.xmlsoap.org/wsdl/}"
    root = etree.fromstring(wsdl, schema.safe_parser())
    parts = {
        m.get("name"): [p.get("element", "").split(":")[-1] for p in m.findall(f"{w}part")]
        for m in root.iter(f"{w}message")
    }
    out: dict[str, str] = {}
    port = root.find(f"{w}portType")
    assert port is not None
    for op in port.findall(f"{w}operation"):
        inp = op.find(f"{w}input")
        if inp is None:
            continue
        for el in parts.get(inp.get("message", "").split(":")[-1], []):
            out.setdefault(el, op.get("name", ""))
    return out


_FL_ELEMENTS: dict[str, str] | None = None


def fl_elements() -> dict[str, str]:
    global _FL_ELEMENTS
    if _FL_ELEMENTS is None:
        _FL_ELEMENTS = _input_elements(schema.wsdl_bytes("FLService.wsdl"))
    return _FL_ELEMENTS


def serve_wsdl(app: SandboxApp, request: Request, name: str, service: str) -> Response:
    """The WSDL of the build served (the published one by default), unmodified but for the
    service address, which points at this sandbox."""
    base = app.base_url or f"http://{request.header('host') or '127.0.0.1'}"
    text = schema.wsdl_bytes(name).decode()
    text = re.sub(
        r'location="[^"]*"', f'location="{base.rstrip("/")}/lagan/services/{service}"', text
    )
    return xml_response(200, text.encode())


def handle(app: SandboxApp, request: Request) -> Response:
    path = request.path.rstrip("/")
    service = path.rsplit("/", 1)[-1]
    if service not in ("FL", "FLAuth"):
        return xml_response(404, b"<error>unknown Lagan service</error>")
    build = app.lagan.build
    model = schema.fl_model(build) if service == "FL" else schema.flauth_model()
    if request.method == "GET":
        if any(k.lower() == "wsdl" for k in request.query):
            name = schema.FL_BUILDS[build] if service == "FL" else "FLAuthService.wsdl"
            return serve_wsdl(app, request, name, service)
        return xml_response(405, b"<error>POST a SOAP envelope, or GET ?WSDL</error>")
    if request.method != "POST":
        return xml_response(405, b"<error>POST a SOAP envelope</error>")
    try:
        header, body_el = parse_envelope(request.body)
        if service == "FL":
            if body_el is None:
                raise SoapFault("SOAP Body is empty: no FL operation requested", 1003, http=400)
            op = fl_elements().get(etree.QName(body_el).localname)
            if op is None or etree.QName(body_el).namespace != model.tns:
                raise SoapFault(
                    f"unknown operation element {etree.QName(body_el).localname}", 1003, http=400
                )
        else:
            op = _flauth_operation(request, header, body_el)
    except SoapFault as fault:
        return xml_response(fault.http, fault_envelope(fault, model))
    except AuthError as exc:
        return xml_response(500, fault_envelope(SoapFault(exc.message, exc.code), model))

    decision = app.faults.decide(op)
    request.decision = decision
    early = app.pre_fault(decision)
    if early is not None:
        return early
    if decision.fault in ("500", "502", "503"):
        status = int(decision.fault)
        return xml_response(
            status,
            fault_envelope(SoapFault(f"injected HTTP {status}", 1500, http=status), model),
        )
    if decision.fault == "soap_fault":
        return xml_response(500, fault_envelope(SoapFault("injected fault", 1500), model))
    if decision.fault == "429":
        return xml_response(
            429,
            fault_envelope(SoapFault("too many requests", 1429, http=429), model),
            {"Retry-After": app.retry_after_value(decision)},
        )
    try:
        if service == "FLAuth":
            response = _flauth(app, request, op, header, body_el)
        else:
            assert body_el is not None
            user = authenticate(app, request, header)
            handler = HANDLERS.get(op)
            if handler is None:
                raise SoapFault(f"operation {op} is not implemented by the sandbox", 1003)
            ctx = Ctx(app, user, model)
            data = model.parse(body_el, strict=app.lagan.unknown == "refuse")
            out_name, out_value = handler(ctx, data)
            payload = envelope(None if out_name is None else model.render(out_name, out_value))
            response = xml_response(200, payload)
    except SoapFault as fault:
        response = xml_response(fault.http, fault_envelope(fault, model))
    except schema.InvalidElement as exc:
        response = xml_response(500, axis_fault(exc))
    except AuthError as exc:
        response = xml_response(500, fault_envelope(SoapFault(exc.message, exc.code), model))
    except NotFound as exc:
        response = xml_response(500, fault_envelope(SoapFault(exc.message, exc.code), model))
    except StoreError as exc:
        response = xml_response(500, fault_envelope(SoapFault(exc.message, exc.code), model))
    except (KeyError, TypeError, ValueError) as exc:
        invalid = SoapFault(f"invalid {op} request", 1000, additional=str(exc)[:200])
        response = xml_response(500, fault_envelope(invalid, model))
    return app.post_fault(decision, response)


def _flauth_operation(
    request: Request, header: etree._Element | None, body_el: etree._Element | None
) -> str:
    """authenticate and verify both have empty bodies: tell them apart as documented.

    An explicit `?op=authenticate|verify` wins; otherwise an empty body carrying a
    BinarySecurityToken is `verify` and any other empty body is `authenticate`.
    """
    if body_el is not None:
        if etree.QName(body_el).localname == "FLUser":
            return "authenticateByProxy"
        raise SoapFault(
            f"unknown FLAuth operation element {etree.QName(body_el).localname}", 1003, http=400
        )
    hint = request.query.get("op", [""])[0]
    if hint in ("authenticate", "verify"):
        return hint
    _, token = credentials(header)
    return "verify" if token else "authenticate"


def _flauth(
    app: SandboxApp,
    request: Request,
    op: str,
    header: etree._Element | None,
    body_el: etree._Element | None,
) -> Response:
    model = schema.flauth_model()
    if op == "authenticate":
        user_pw, _ = credentials(header)
        user = None
        if user_pw is not None:
            user = app.check_password(*user_pw)
        else:
            user = app.check_basic(request.header("authorization"))
        if user is None:
            raise AuthError("authenticate needs a WS-Security UsernameToken or HTTP Basic")
        session = app.issue_token(user, "flauth")
        return xml_response(200, envelope(None, [security_header(session.token)]))
    if op == "verify":
        _, token = credentials(header)
        if not token:
            raise AuthError("verify needs the BinarySecurityToken from authenticate", 1002)
        session = app.use_token(token, "flauth", request.decision)
        body = model.render(
            "FWTVerifyDetails", {"User": {"UserID": session.user_id, "UserName": session.user_id}}
        )
        return xml_response(200, envelope(body, [security_header(token)]))
    # authenticateByProxy: any valid credential may ask for a token for another user.
    authenticate(app, request, header)
    assert body_el is not None
    data = model.parse(body_el)
    target = data.get("UserID") if isinstance(data, dict) else None
    if not target:
        raise SoapFault("authenticateByProxy needs FLUser/UserID", 1000)
    session = app.issue_token(str(target), "flauth")
    return xml_response(200, envelope(None, [security_header(session.token)]))


def authenticate(app: SandboxApp, request: Request, header: etree._Element | None) -> str:
    """The calling user for an FL call, enforcing the configured auth style."""
    style = app.auth.style
    user_pw, token = credentials(header)
    if token and style in ("any", "token"):
        return app.use_token(token, "flauth", request.decision).user_id
    if user_pw is not None and style in ("any", "wsse"):
        return app.check_password(*user_pw)
    if style in ("any", "basic"):
        user = app.check_basic(request.header("authorization"))
        if user is not None:
            return user
    wanted = {
        "any": "WS-Security UsernameToken, FLAuth BinarySecurityToken or HTTP Basic",
        "wsse": "a WS-Security UsernameToken (PasswordText)",
        "token": "the BinarySecurityToken from FLAuth authenticate",
        "basic": "HTTP Basic credentials",
    }[style]
    raise AuthError(f"authentication required: this sandbox expects {wanted}")


# ------------------------------------------------------------------ handlers
class Ctx:
    def __init__(self, app: SandboxApp, user: str, model: schema.SchemaModel) -> None:
        self.app = app
        self.store = app.store
        self.user = user
        self.model = model


Result = tuple[str | None, Any]
Handler = Callable[[Ctx, Any], Result]
HANDLERS: dict[str, Handler] = {}


def op(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _int(value: Any, what: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise SoapFault(f"{what} must be an integer", 1000) from None


def _bool(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1")


def case_summary(store: Any, case: Record) -> dict[str, Any]:
    """The parts shared by FWTCaseBriefDetails and FWTCaseCoreDetails."""
    code = store.category(case["category"]) or {}
    party = store.parties.get(case.get("party") or "")
    out: dict[str, Any] = {
        "CaseReference": case["ref"],
        "Status": case["status"],
        "Opened": case["opened"],
    }
    return {
        **out,
        "_closed": case.get("closed"),
        "RaisedByUser": {"UserID": case.get("raised_by_user", "sandbox")},
        "Classification": {"Classifier": [code.get("CodeKey", str(case["category"]))]},
        "Title": case.get("title"),
        "AssociatedObject": (
            {
                "ObjectID": {"ObjectType": "C1", "ObjectReference": party["ref"]},
                "ObjectDescription": f"{party['forename']} {party['surname']}",
            }
            if party
            else None
        ),
        "Category": case["category"],
        "CategoryDescription": code.get("Description"),
        "CategoryNameKey": code.get("CodeKey"),
        "CategoryNameValue": code.get("CodeValue"),
    }


def brief_details(store: Any, case: Record) -> dict[str, Any]:
    s = case_summary(store, case)
    closed = s.pop("_closed")
    ordered = {k: s[k] for k in ("CaseReference", "Status", "Opened")}
    ordered["EndDate"] = closed
    ordered.update({k: v for k, v in s.items() if k not in ordered})
    return ordered


def full_details(store: Any, case: Record, options: list[str]) -> dict[str, Any]:
    s = case_summary(store, case)
    closed = s.pop("_closed")
    core = {k: s[k] for k in ("CaseReference", "Status", "Opened")}
    core["Closed"] = closed
    core.update({k: v for k, v in s.items() if k not in core})
    core.update(
        {
            "Priority": case.get("priority", 2),
            "Severity": case.get("severity", 1),
            "WorkflowCase": False,
            "Internal": bool(case.get("internal", False)),
            "Description": case.get("description"),
            "Queue": case.get("queue"),
            "DueDate": case.get("due"),
            "XCoord": case.get("x"),
            "YCoord": case.get("y"),
        }
    )
    wanted = {o.strip().lower() for o in options}
    everything = not wanted or wanted & {"all", "*"} or not wanted <= SECTION_OPTIONS

    def want(*names: str) -> bool:
        return bool(everything or wanted & set(names))

    out: dict[str, Any] = {"CoreDetails": core}
    if want("form", "forms") and case.get("form"):
        out["Form"] = {
            "FormField": [{"Key": k, "Value": v} for k, v in case["form"].items()],
            "FormName": case.get("form_name"),
        }
    if want("events") and case.get("events"):
        out["Events"] = {
            "CaseEvent": [{k: v for k, v in e.items() if v is not None} for e in case["events"]]
        }
    if want("notes") and case.get("notes"):
        out["Notes"] = {
            "Note": [
                {
                    "NoteID": n["id"],
                    "Text": n["text"],
                    "Created": n["created"],
                    "CreatedBy": {"UserID": n["author"]},
                }
                for n in (store.notes[nid] for nid in case["notes"])
            ]
        }
    if want("interactions"):
        items = [store.interactions[i] for i in case.get("interactions", [])]
        if items:
            out["Interactions"] = {"InteractionDetails": [interaction(i) for i in items]}
    if want("links", "linkcases", "linkedcases") and case.get("links"):
        out["LinkCases"] = [dict(link) for link in case["links"]]
    return out


SECTION_OPTIONS = {
    "core",
    "coredetails",
    "form",
    "forms",
    "events",
    "notes",
    "interactions",
    "links",
    "linkcases",
    "linkedcases",
}


def interaction(i: Record) -> dict[str, Any]:
    out: dict[str, Any] = {
        "InteractionID": i["id"],
        "Channel": i["channel"],
        "Verified": bool(i["verified"]),
        "CreationDate": i["created"],
    }
    if i.get("party"):
        out["PartyID"] = {"ObjectType": "C1", "ObjectReference": i["party"]}
    return out


def _object_ref(value: Any, what: str) -> str:
    obj = _d(value)
    ref = obj.get("ObjectReference")
    if isinstance(ref, list):
        ref = ref[0] if ref else None
    if not ref:
        raise SoapFault(f"{what} needs ObjectID/ObjectReference", 1000)
    return str(ref)


def _form(data: Any) -> dict[str, str]:
    fields = _list(_d(data).get("FormField"))
    return {
        str(_d(f).get("Key", "")): str(_d(f).get("Value", "")) for f in fields if _d(f).get("Key")
    }


def _apply_status(form: dict[str, str]) -> str | None:
    """A form key `Status` is the sandbox's workflow shortcut (see README); not stored."""
    status = form.pop("Status", None)
    if status is not None and status not in CASE_STATUSES:
        raise SoapFault(f"Status {status!r} is not one of {', '.join(CASE_STATUSES)}", 1000)
    return status


@op("createCase")
def create_case(ctx: Ctx, data: Any) -> Result:
    data = _d(data)
    code = _int(data.get("ClassificationEventCode"), "ClassificationEventCode")
    category = ctx.store.category(code)
    if category is None:
        raise SoapFault(
            f"ClassificationEventCode {code} is not in the CaseCategory code book", 1000
        )
    with ctx.store.lock:
        party = None
        if data.get("AssociatedObject"):
            party = _object_ref(_d(data["AssociatedObject"]).get("ObjectID"), "AssociatedObject")
            ctx.store.party(party)
        interaction_id = data.get("InteractionID")
        if interaction_id is not None and str(interaction_id) not in ctx.store.interactions:
            raise NotFound(f"interaction {interaction_id} not found")
        form = _form(data.get("Form"))
        status = _apply_status(form) or "open"
        case: Record = {
            "status": status,
            "title": data.get("Title"),
            "description": data.get("Description"),
            "category": code,
            "priority": _int(data.get("Priority", 2), "Priority"),
            "party": party,
            "raised_by_user": ctx.user,
            "queue": data.get("Queue") or category["CodeKey"],
            "due": data.get("DueDate"),
            "internal": _bool(data.get("Internal", False)),
            "form_name": _d(data.get("Form")).get("FormName") or "MemberEnquiry",
            "form": form,
        }
        if status == "closed":
            # Both fronts show the close time (Lagan `Closed`, Dataverse `cr_closedat`).
            case["closed"] = iso(ctx.store.clock())
        if data.get("XCoord"):
            case["x"], case["y"] = data.get("XCoord"), data.get("YCoord")
        case = ctx.store.add_case(case)
        if interaction_id is not None:
            ctx.store.attach_interaction(str(interaction_id), case["ref"])
    return "CaseReference", case["ref"]


@op("updateCase")
def update_case(ctx: Ctx, data: Any) -> Result:
    data = _d(data)
    ref = str(data.get("CaseReference", ""))
    changes: Record = {}
    for key, field in (
        ("Title", "title"),
        ("Description", "description"),
        ("Queue", "queue"),
        ("DueDate", "due"),
        ("XCoord", "x"),
        ("YCoord", "y"),
    ):
        if key in data:
            changes[field] = data[key]
    for key, field in (("Priority", "priority"), ("Severity", "severity")):
        if key in data:
            changes[field] = _int(data[key], key)
    if "Internal" in data:
        changes["internal"] = _bool(data["Internal"])
    if "AssociatedObject" in data:
        party = _object_ref(data["AssociatedObject"], "AssociatedObject")
        ctx.store.party(party)
        changes["party"] = party
    form = _form(data.get("Form")) if "Form" in data else {}
    status = _apply_status(form)
    with ctx.store.lock:
        current = ctx.store.case(ref)
        if status is not None:
            changes["status"] = status
            if status != "closed":
                changes["closed"] = None
            elif not current.get("closed"):
                changes["closed"] = iso(ctx.store.clock())
        ctx.store.update_case(ref, changes, form)
        for text in _list(data.get("NewNote")):
            ctx.store.add_note(0, ref, str(text), author=ctx.user)
    return "FWTCaseUpdateResponse", 0


@op("retrieveCaseDetails")
def retrieve_case(ctx: Ctx, data: Any) -> Result:
    data = _d(data)
    with ctx.store.lock:
        case = ctx.store.case(str(data.get("CaseReference", "")))
        return "FWTCaseFullDetails", full_details(
            ctx.store, case, [str(o) for o in _list(data.get("Option"))]
        )


def _date_test(field: str, bound: str, at_least: bool) -> Callable[[Record], bool]:
    def test(case: Record) -> bool:
        value = str(case.get(field) or "")
        return value >= bound if at_least else value <= bound

    return test


def _priority_test(n: int, direction: int) -> Callable[[Record], bool]:
    def test(case: Record) -> bool:
        return (int(case.get("priority", 2)) - n) * direction >= 0

    return test


def search_cases(ctx: Ctx, crit: dict[str, Any]) -> list[Record]:
    """Cases matching an FWTCaseSearch, cut at ResultsLimit and at the server's cap.

    `Status` is open (every case not closed), closed or all (the default). Date bounds are
    inclusive. The later-build `LastModifiedDateFrom/To` apply only on a later build; on the
    published build with `--fl-unknown ignore` they are dropped, as such a server drops them.
    No paging, no total count: an answer cut at the cap looks like any other.
    """
    limit = _int(crit.get("ResultsLimit", DEFAULT_RESULTS_LIMIT), "ResultsLimit")
    limit = max(0, min(limit, MAX_RESULTS_LIMIT, ctx.app.lagan.search_cap))
    tests: list[Callable[[Record], bool]] = []
    if crit.get("CaseReference"):
        ref = str(crit["CaseReference"])
        tests.append(lambda c: c["ref"] == ref)
    status = str(crit.get("Status") or "all").strip().lower()
    if status not in ("open", "closed", "all"):
        raise SoapFault("Status must be open, closed or all", 1000)
    if status != "all":
        closed = status == "closed"
        tests.append(lambda c: (c["status"] == "closed") == closed)
    if crit.get("ClassificationEventCode"):
        code = _int(crit["ClassificationEventCode"], "ClassificationEventCode")
        tests.append(lambda c: c["category"] == code)
    if crit.get("Title"):
        title = str(crit["Title"]).lower()
        tests.append(lambda c: title in (c.get("title") or "").lower())
    if crit.get("Queue"):
        queue = str(crit["Queue"])
        tests.append(lambda c: c.get("queue") == queue)
    if crit.get("CategoryNameKey"):
        key = str(crit["CategoryNameKey"])
        codes = {c["CodeID"] for c in ctx.store.codebook if c["CodeKey"] == key}
        tests.append(lambda c: c["category"] in codes)
    if crit.get("AssociatedObjectId"):
        party = _object_ref(crit["AssociatedObjectId"], "AssociatedObjectId")
        tests.append(lambda c: c.get("party") == party)
    if _d(crit.get("RaisedByUser")).get("UserID"):
        uid = str(crit["RaisedByUser"]["UserID"])
        tests.append(lambda c: c.get("raised_by_user") == uid)
    bounds = [("CreatedAfter", "opened", "ge"), ("CreatedBefore", "opened", "le")]
    if ctx.app.lagan.build == "later":
        bounds += [
            ("LastModifiedDateFrom", "modified", "ge"),
            ("LastModifiedDateTo", "modified", "le"),
        ]
    for key, field, op_ in bounds:
        if crit.get(key):
            bound = iso(parse_iso(str(crit[key])))
            tests.append(_date_test(field, bound, op_ == "ge"))
    for key, cmp in (("PriorityMinimum", 1), ("PriorityMaximum", -1)):
        if crit.get(key):
            n = _int(crit[key], key)
            tests.append(_priority_test(n, cmp))
    with ctx.store.lock:
        found = [c for c in ctx.store.cases.values() if all(t(c) for t in tests)]
    found.sort(key=lambda c: (c["modified"], c["ref"]))
    return found[:limit]


@op("searchForCases")
def search_for_cases(ctx: Ctx, data: Any) -> Result:
    found = search_cases(ctx, _d(data))
    with ctx.store.lock:
        return "FWTCaseBriefDetailsList", {
            "CaseBriefDetails": [brief_details(ctx.store, c) for c in found]
        }


@op("searchAndRetrieveCaseDetails")
def search_and_retrieve(ctx: Ctx, data: Any) -> Result:
    data = _d(data)
    found = search_cases(ctx, _d(data.get("FWTCaseSearch")))
    options = [str(o) for o in _list(data.get("Option"))]
    with ctx.store.lock:
        return "FWTCaseFullDetailsList", {
            "FWTCaseFullDetails": [full_details(ctx.store, c, options) for c in found]
        }


@op("search")
def generic_search(ctx: Ctx, data: Any) -> Result:
    data = _d(data)
    query = str(data.get("QueryString", ""))
    key, sep, value = query.partition(":")
    if not sep:
        raise SoapFault("QueryString must be Key:Value, e.g. PortalId:<uuid>", 1000)
    start = _int(data.get("StartIndex", 0), "StartIndex")
    size = _int(data.get("PageSize", 100), "PageSize")
    hits = ctx.store.find("cases", **{key.strip(): value.strip()})
    hits.sort(key=lambda c: c["ref"])
    page = hits[start : start + size]
    return "FWTSearchResult", {
        "TotalHits": len(hits),
        "StartIndex": start,
        "PageSize": size,
        "ElapsedMilliseconds": 0,
        "Hit": [
            {"ID": c["ref"], "Type": "case", "Title": c.get("title") or "", "Score": 1.0}
            for c in page
        ],
    }


@op("closeCases")
def close_cases(ctx: Ctx, data: Any) -> Result:
    data = _d(data)
    reason = _d(data.get("Reason"))
    if not reason.get("Title"):
        raise SoapFault("closeCases needs Reason/Title", 1000)
    refs = [str(r) for r in _list(data.get("CaseReference"))]
    with ctx.store.lock:
        for ref in refs:
            ctx.store.case(ref)
        for ref in refs:
            ctx.store.close_case(ref, str(reason["Title"]), reason.get("Description"))
    return "FWTCaseCloseResponse", 0


@op("reopenCase")
def reopen_case(ctx: Ctx, data: Any) -> Result:
    data = _d(data)
    ctx.store.reopen_case(str(data.get("CaseReference", "")), data.get("Reason"))
    return "FWTReopenCaseRequestResponse", 0


@op("linkCases")
def link_cases(ctx: Ctx, data: Any) -> Result:
    data = _d(data)
    ctx.store.link_cases(
        f"{_int(data.get('CaseID'), 'CaseID'):012d}",
        f"{_int(data.get('TargetCaseID'), 'TargetCaseID'):012d}",
        _int(data.get("LinkType", 0), "LinkType"),
    )
    return "FLLinkCasesParamsResponse", 0


def _parent(data: dict[str, Any]) -> tuple[int, str]:
    ptype = _int(data.get("ParentType"), "ParentType")
    pid = _int(data.get("ParentId"), "ParentId")
    return ptype, (f"{pid:012d}" if ptype == 0 else str(pid))


@op("createNotes")
def create_notes(ctx: Ctx, data: Any) -> Result:
    data = _d(data)
    ptype, pid = _parent(data)
    details = _d(data.get("NoteDetails"))
    attachment = None
    atts = _list(_d(details.get("NoteAttachments")).get("NoteAttachmentList"))
    if atts:
        first = _d(atts[0])
        doc = ctx.store.document(str(first.get("AttachmentIdentifier", "")))
        attachment = {"document": doc["ref"], "name": str(first.get("AttachmentName", doc["name"]))}
    note = ctx.store.add_note(
        ptype, pid, str(details.get("Text", "")), author=ctx.user, attachment=attachment
    )
    return "FWTNoteToParentRefResponse", int(note["id"])


@op("getNotes")
def get_notes(ctx: Ctx, data: Any) -> Result:
    ptype, pid = _parent(_d(data))
    with ctx.store.lock:
        if ptype == 0:
            ids = ctx.store.case(pid)["notes"]
        else:
            if pid not in ctx.store.interactions:
                raise NotFound(f"interaction {pid} not found")
            ids = ctx.store.interactions[pid].get("notes", [])
        items = []
        for nid in ids:
            n = ctx.store.notes[nid]
            item: dict[str, Any] = {
                "NoteId": int(n["id"]),
                "Created": n["created"],
                "CreatedBy": {"UserID": n["author"]},
                "Text": n["text"],
            }
            if n.get("attachment") and n["attachment"].get("document"):
                item["NoteAttachments"] = {
                    "NoteAttachmentList": [
                        {
                            "AttachmentName": n["attachment"]["name"],
                            "AttachmentIdentifier": n["attachment"]["document"],
                        }
                    ]
                }
            items.append(item)
    return "FWTNoteDetailList", {"NoteDetails": items}


@op("addDocumentToRepository")
def add_document(ctx: Ctx, data: Any) -> Result:
    data = _d(data)
    doc = ctx.store.add_document(
        str(data.get("DocumentName", "")),
        _int(data.get("DocumentType", 0), "DocumentType"),
        str(data.get("Document", "")),
    )
    return "FWTDocumentRef", doc["ref"]


@op("getDocumentFromRepository")
def get_document(ctx: Ctx, data: Any) -> Result:
    doc = ctx.store.document(str(data))
    return "FWTDocument", {
        "Document": doc["body"],
        "DocumentType": doc["type"],
        "DocumentName": doc["name"],
    }


@op("createInteraction")
def create_interaction(ctx: Ctx, data: Any) -> Result:
    data = _d(data)
    if not data.get("Channel"):
        raise SoapFault("createInteraction needs Channel", 1000)
    party = _object_ref(data["PartyID"], "PartyID") if data.get("PartyID") else None
    with ctx.store.lock:
        record = ctx.store.add_interaction(
            str(data["Channel"]),
            _bool(data.get("Verified", False)),
            party,
            str(data["CaseReference"]) if data.get("CaseReference") else None,
        )
        for text in _list(data.get("NoteText")):
            ctx.store.add_note(1, record["id"], str(text), author=ctx.user)
    return "InteractionID", int(record["id"])


def party_brief(p: Record) -> dict[str, Any]:
    return {
        "ObjectID": {"ObjectType": p.get("type", "C1"), "ObjectReference": p["ref"]},
        "ObjectDescription": f"{p['forename']} {p['surname']}".strip(),
        "Details": f"{p.get('address_number', '')} {p.get('street', '')}, {p.get('postcode', '')}",
    }


@op("searchForParty")
def search_for_party(ctx: Ctx, data: Any) -> Result:
    data = _d(data)
    if str(data.get("SearchType", "")).lower() not in ("individual", "party", "organisation"):
        raise SoapFault("SearchType must be individual, organisation or party", 1000)
    if str(data["SearchType"]).lower() == "organisation":
        return "FWTObjectBriefDetailsList", {"ObjectBriefDetails": []}
    partial = str(data.get("SearchMatch", "")).lower() == "partial"

    def norm(value: Any) -> str:
        return re.sub(r"\s+", "", str(value)).lower()

    criteria = {
        field: norm(data[key])
        for key, field in (
            ("Name", "surname"),
            ("Forename", "forename"),
            ("Postcode", "postcode"),
            ("EmailAddress", "email"),
            ("PhoneNumber", "phone"),
        )
        if data.get(key)
    }
    if not criteria:
        raise SoapFault(
            "searchForParty needs at least one of Name, Forename, Postcode, "
            "EmailAddress, PhoneNumber",
            1000,
        )
    with ctx.store.lock:
        found = [
            p
            for p in ctx.store.parties.values()
            if all(
                norm(p.get(f, "")).startswith(v) if partial else norm(p.get(f, "")) == v
                for f, v in criteria.items()
            )
        ][:100]
        return "FWTObjectBriefDetailsList", {"ObjectBriefDetails": [party_brief(p) for p in found]}


def individual(p: Record) -> dict[str, Any]:
    out: dict[str, Any] = {
        "BriefDetails": party_brief(p),
        "Name": [
            {
                "Title": p.get("title"),
                "Forename": p.get("forename"),
                "Surname": p["surname"],
                "FullName": f"{p.get('forename', '')} {p['surname']}".strip(),
                "Preferred": True,
            }
        ],
    }
    if p.get("street") or p.get("postcode"):
        out["ContactPostals"] = [
            {
                "AddressNumber": p.get("address_number"),
                "AddressLine": p.get("street", ""),
                "Postcode": p.get("postcode"),
                "Usage": "home",
                "UPRN": p.get("uprn"),
                "City": p.get("city"),
                "Preferred": True,
            }
        ]
    if p.get("phone"):
        out["ContactPhones"] = [
            {"Number": p["phone"], "DeviceType": "mobile", "Usage": "home", "Preferred": True}
        ]
    if p.get("email"):
        out["ContactEmails"] = [{"EmailAddress": p["email"], "Usage": "home", "Preferred": True}]
    out["SurveyConsent"] = p.get("survey_consent")
    out["AuditDetails"] = {"Created": p["created"], "LastModified": p["modified"]}
    return out


@op("retrieveIndividual")
def retrieve_individual(ctx: Ctx, data: Any) -> Result:
    ref = _object_ref(data, "FLIndividualID")
    with ctx.store.lock:
        return "FWTIndividual", individual(ctx.store.party(ref))


def _party_fields(data: dict[str, Any], names_key: str = "Name") -> Record:
    fields: Record = {}
    names = _list(data.get(names_key))
    if names:
        name = _d(names[0])
        name = _d(name.get("IndividualNameDetails")) or name
        for key, field in (("Title", "title"), ("Forename", "forename"), ("Surname", "surname")):
            if name.get(key) is not None:
                fields[field] = str(name[key])
    postals = _list(data.get("ContactPostals"))
    if postals:
        postal = _d(postals[0])
        postal = _d(postal.get("PostalDetails")) or postal
        for key, field in (
            ("AddressNumber", "address_number"),
            ("AddressLine", "street"),
            ("Postcode", "postcode"),
            ("UPRN", "uprn"),
            ("City", "city"),
        ):
            if postal.get(key) is not None:
                fields[field] = str(postal[key])
    emails = _list(data.get("ContactEmails"))
    if emails:
        email = _d(emails[0])
        email = _d(email.get("EmailDetails")) or email
        if email.get("EmailAddress"):
            fields["email"] = str(email["EmailAddress"])
    phones = _list(data.get("ContactPhones"))
    if phones:
        phone = _d(phones[0])
        phone = _d(phone.get("PhoneDetails")) or phone
        if phone.get("Number"):
            fields["phone"] = str(phone["Number"])
    if data.get("SurveyConsent") is not None:
        fields["survey_consent"] = str(data["SurveyConsent"])
    consent = _d(data.get("SurveyConsentUpdate")).get("SurveyConsent")
    if consent is not None:
        fields["survey_consent"] = str(consent)
    return fields


@op("createIndividual")
def create_individual(ctx: Ctx, data: Any) -> Result:
    fields = _party_fields(_d(data))
    if not fields.get("surname"):
        raise SoapFault("createIndividual needs Name/Surname", 1000)
    fields.setdefault("forename", "")
    party = ctx.store.add_party({"type": "C1", **fields})
    return "FLNewIndividualID", {"ObjectType": "C1", "ObjectReference": party["ref"]}


@op("updateIndividual")
def update_individual(ctx: Ctx, data: Any) -> Result:
    data = _d(data)
    ref = _object_ref(_d(data.get("BriefDetails")).get("ObjectID"), "BriefDetails")
    ctx.store.update_party(ref, _party_fields(data))
    return "FWTIndividualUpdateResponse", 0


@op("retrieveCodeBook")
def retrieve_codebook(ctx: Ctx, data: Any) -> Result:
    name = str(data).strip()
    if name.lower() not in ("casecategory", "categories", "case category"):
        raise NotFound(f"code book {name!r} not found; the sandbox has 'CaseCategory'")
    return "FWTCodeBook", {
        "CodeBookID": 1,
        "CodeBookName": "CaseCategory",
        "Description": "Case categories (one per council service)",
        "Published": True,
        "Codes": {
            "Code": [
                {
                    "CodeID": c["CodeID"],
                    "CodeKey": c["CodeKey"],
                    "CodeValue": c["CodeValue"],
                    "Description": c["Description"],
                    "CodeBookName": "CaseCategory",
                    "CodeGroup1": c["CodeGroup1"],
                    "Attribute1": c["Attribute1"],
                }
                for c in ctx.store.codebook
            ]
        },
    }
