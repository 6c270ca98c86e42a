"""A helpdesk's webhook: a ticket posted as it closes is stored and drafted for review at once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from assistant.records import RecordError
from ingestion.helpdesk import parse_webhook
from ingestion.tickets import receive

from ..auth import Reviewer
from ..deps import State
from ..problems import Problem
from ..schemas.records import TicketOut
from . import ERRORS, _problem

router = APIRouter(prefix="/v1", tags=["review"])
RESPONSES = {**ERRORS, 409: _problem("a case with the draft's id exists and was not drafted from this ticket")}

TICKET_EXAMPLES = {
    "casepilot": {"summary": "casepilot's ticket JSON", "value": {
        "id": "T-1001", "subject": "打印机连不上WiFi", "status": "closed", "messages": [
            {"id": "m1", "role": "customer", "text": "打印机连不上网了", "at": "2026-03-01T09:00:00Z"},
            {"id": "m2", "role": "agent", "text": "请登录路由器后台，开启2.4GHz频段。"},
            {"id": "n1", "role": "agent", "text": "内部：该型号只支持2.4GHz", "internal": True},
            {"id": "m3", "role": "customer", "text": "好了，可以打印了，谢谢。"}]}},
    "zendesk": {"summary": "a Zendesk trigger's payload (docs/importing.md)", "value": {"ticket": {
        "id": "35436", "subject": "打印机连不上WiFi", "status": "solved", "priority": "normal",
        "requester_id": "20978392", "via": "web", "comments": [
            {"id": "1", "author_id": "20978392", "author_role": "end-user", "public": "true",
             "plain_body": "打印机连不上网了", "created_at": "2026-03-01T09:00:00Z"},
            {"id": "2", "author_id": "235323", "author_role": "agent", "public": "false",
             "plain_body": "内部：该型号只支持2.4GHz", "created_at": "2026-03-01T09:05:00Z"},
            {"id": "3", "author_id": "235323", "author_role": "agent", "public": "true",
             "plain_body": "请登录路由器后台，开启2.4GHz频段。", "created_at": "2026-03-01T09:06:00Z"}]}}},
}


@router.post("/tickets", summary="Receive a ticket from a helpdesk (a webhook): stored, and drafted for review "
             "if it is closed", description="The body is casepilot's ticket JSON, a Zendesk ticket (the trigger "
             "payload of docs/importing.md, or the API's ticket with `comments`), or a Freshdesk ticket with "
             "`conversations`. Personal data is redacted before it is stored. A closed, solved or resolved ticket "
             "is drafted into the review queue at once (`drafted`); internal notes are kept with the ticket and "
             "never drafted. Reviewer or admin keys; the ticket lands in the key's tenant.",
             response_model=TicketOut, responses=RESPONSES)
def post_ticket(body: Annotated[dict[str, Any], Body(openapi_examples=TICKET_EXAMPLES)], p: Reviewer,
                st: State) -> TicketOut:
    try:
        ticket = parse_webhook(body)
    except RecordError as e:
        raise Problem(422, "validation_error", f"not a ticket: {e.field}: {e.message}") from None
    with st.tenants.get(p.tenant).write() as lib:
        out = receive(lib, ticket, p.actor)
    return TicketOut.model_validate(out.to_dict())
