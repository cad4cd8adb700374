"""Calls screen: CDR filters and totals, CSV and Excel exports (formula-safe), the
printable view, live calls with time left, and hang-up requests."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from tests.webadmin.calls_data import calling_account, place_call
from tests.webadmin.conftest import make_staff, page_with, signed_in, unique_name
from wallet.backoffice import (
    HANGUP_DONE,
    HANGUP_NOT_FOLLOWED,
    HangupRequest,
    hangup_failure,
    mark_hangup_handled,
    request_hangup,
)
from webadmin.exports import HEADER_ROW

MORNING = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 09:00 in Jakarta


def test_the_cdr_list_filters_by_customer_and_destination_and_totals_the_cost(db, admin):
    name = unique_name("Caller")
    account_id, code = calling_account(db, name=name)
    place_call(db, code, "628111", MORNING, 60)  # 600
    place_call(db, code, "628222", MORNING + timedelta(minutes=5), 30)  # 300
    place_call(db, code, "4412345", MORNING + timedelta(minutes=9), 10)  # 3000 (60/60)
    page = admin.get(f"/calls/?customer={name}").get_data(as_text=True)
    assert "Total: 3 calls" in page and "IDR 3,900" in page
    page = admin.get(f"/calls/?customer={account_id}&destination=628").get_data(as_text=True)
    assert "Total: 2 calls" in page and "IDR 900" in page and "4412345" not in page
    page = admin.get(f"/calls/?customer={name}&cost_min=500&cost_max=1000").get_data(as_text=True)
    assert "Total: 1 call" in page and "628111" in page


def test_the_cdr_list_filters_by_local_dates_and_result(db, admin):
    name = unique_name("Dates")
    _, code = calling_account(db, name=name)
    place_call(db, code, "628111", MORNING, 60)
    place_call(db, code, "628111", MORNING + timedelta(days=3), 0, disposition="NO ANSWER")
    page = admin.get(f"/calls/?customer={name}&from=2026-03-02&to=2026-03-02").get_data(
        as_text=True
    )
    assert "Total: 1 call" in page
    page = admin.get(f"/calls/?customer={name}&disposition=NO+ANSWER").get_data(as_text=True)
    assert "Total: 1 call" in page and "IDR 0" in page


def test_the_cdrs_export_to_csv_with_names_kept_as_text(db, admin):
    name = f"=cmd|' /C calc'!A0 {unique_name('')}"
    account_id, code = calling_account(db, name=name)
    place_call(db, code, "628111", MORNING, 60)
    response = admin.get(f"/calls/?customer={account_id}&format=csv")
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="calls.csv"'
    body = response.get_data(as_text=True).lstrip("\ufeff")
    header, row = body.splitlines()[:2]
    assert header.startswith("start,customer,account,caller,number")
    assert ",'=cmd|" in row and ",=cmd" not in row
    assert row.endswith(",600,cdr,2026-03-02 02:01:00,no")  # cost in units, exact; the end


def test_a_call_that_ended_while_no_listener_followed_it_shows_its_end_was_estimated(db, admin):
    """Its end is the limit Asterisk enforced (or Asterisk's record), not when the
    restarted listener found it gone: the screen and the exports say it is estimated."""
    name = unique_name("Outage")
    account_id, code = calling_account(db, name=name)
    place_call(db, code, "628111", MORNING, 20, end_estimated=True)
    place_call(db, code, "628222", MORNING + timedelta(minutes=5), 30)
    page = admin.get(f"/calls/?customer={name}").get_data(as_text=True)
    assert page.count("end estimated") == 1
    body = admin.get(f"/calls/?customer={account_id}&format=csv").get_data(as_text=True)
    header, *rows = body.lstrip("\ufeff").splitlines()
    assert header.endswith(",source,end,end_estimated")
    ends = sorted(row.rsplit(",", 3)[1:] for row in rows)
    assert ends == [
        ["cdr", "2026-03-02 02:05:30", "no"],
        ["estimated", "2026-03-02 02:00:20", "yes"],
    ]


def test_the_cdrs_export_to_excel_as_text_cells_never_formulas(db, admin):
    name = f'=HYPERLINK("http://evil.example","x") {unique_name("")}'
    account_id, code = calling_account(db, name=name)
    place_call(db, code, "628111", MORNING, 90)
    response = admin.get(f"/calls/?customer={account_id}&format=xlsx")
    assert response.headers["Content-Disposition"].endswith('calls.xlsx"')
    sheet = load_workbook(io.BytesIO(response.data)).active
    cell = sheet.cell(row=HEADER_ROW + 1, column=2)
    assert cell.value == name and cell.data_type == "s"
    assert sheet.cell(row=HEADER_ROW + 1, column=13).value == 900  # cost, a number
    raw = response.data
    import zipfile

    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml


def test_the_printable_view_has_no_navigation_and_all_rows(db, admin):
    name = unique_name("Print")
    _, code = calling_account(db, name=name)
    place_call(db, code, "628111", MORNING, 60)
    page = admin.get(f"/calls/?customer={name}&print=1").get_data(as_text=True)
    assert '<body class="printing' in page and "Total: 1 call" in page


def test_live_calls_show_the_time_their_holds_still_pay_for(db, admin):
    name = unique_name("Live")
    _, code = calling_account(db, name=name)
    now = datetime.now(UTC).replace(microsecond=0)
    call_id = place_call(db, code, "628111", now - timedelta(seconds=100), 0, settle=False)
    page = admin.get("/calls/live").get_data(as_text=True)
    assert name in page
    # A 600 s slice answered 100 s ago: about 500 s (8:20) left.
    left = int(page.split(f"{name}</a>")[1].split('data-seconds-left="')[1].split('"')[0])
    assert 495 <= left <= 500
    response = admin.post(f"/calls/live/{call_id}/hangup")
    assert response.status_code == 302
    page = admin.get("/calls/live").get_data(as_text=True)
    assert "takes effect when the AMI listener" in page and "hang-up requested" in page
    admin.post(f"/calls/live/{call_id}/hangup")
    with db.transaction() as session:
        requests = (
            session.execute(select(HangupRequest).where(HangupRequest.call_id == call_id))
            .scalars()
            .all()
        )
    assert len(requests) == 1 and requests[0].handled_at is None


def test_a_role_that_only_views_calls_cannot_request_a_hang_up(app, db):
    _, code = calling_account(db)
    call_id = place_call(db, code, "628111", datetime.now(UTC), 0, settle=False)
    viewer = signed_in(app, make_staff(db, grants={"calls": "view"}))
    assert "Hang up" not in viewer.get("/calls/live").get_data(as_text=True)
    assert viewer.post(f"/calls/live/{call_id}/hangup").status_code == 403


# --- what became of a hang-up request ----------------------------------------------------


def live_call(db) -> tuple[str, int]:
    """A live call of a customer with a name of its own: (name, call id)."""
    name = unique_name("Hangup")
    _, code = calling_account(db, name=name)
    return name, place_call(db, code, "628111", datetime.now(UTC), 0, settle=False)


def row_of(admin, name: str) -> str:
    """The live-calls row of the customer `name`."""
    page = page_with(admin, "/calls/live", f">{name}</a>")
    return page.split(f">{name}</a>", 1)[1].split("</tr>", 1)[0]


def handled(db, call_id: int, outcome: str) -> None:
    """The AMI listener's part: it took the pending request up and recorded `outcome`."""

    def work(session):
        (request,) = (
            session.execute(
                select(HangupRequest).where(
                    HangupRequest.call_id == call_id, HangupRequest.handled_at.is_(None)
                )
            )
            .scalars()
            .all()
        )
        assert mark_hangup_handled(
            session, request.id, outcome, datetime.now(UTC).replace(tzinfo=None)
        )

    db.run(work)


def test_a_pending_hang_up_request_shows_who_asked_and_offers_no_second_button(db, admin):
    name, call_id = live_call(db)
    assert f"/calls/live/{call_id}/hangup" in row_of(admin, name)
    admin.post(f"/calls/live/{call_id}/hangup")
    row = row_of(admin, name)
    assert "hang-up requested" in row and "by " in row
    assert f"/calls/live/{call_id}/hangup" not in row


def test_a_failed_hang_up_shows_why_and_offers_the_button_again(db, admin):
    name, call_id = live_call(db)
    admin.post(f"/calls/live/{call_id}/hangup")
    handled(db, call_id, hangup_failure("Channel PJSIP/x-0001 not found"))
    row = row_of(admin, name)
    assert "hang-up failed" in row and "Channel PJSIP/x-0001 not found" in row
    assert "hang-up requested" not in row
    assert f"/calls/live/{call_id}/hangup" in row
    admin.post(f"/calls/live/{call_id}/hangup")  # asked again: a new request, pending
    row = row_of(admin, name)
    assert "hang-up requested" in row and "hang-up failed" not in row
    assert f"/calls/live/{call_id}/hangup" not in row
    with db.transaction() as session:
        requests = session.execute(
            select(HangupRequest.handled_at).where(HangupRequest.call_id == call_id)
        ).all()
    assert len(requests) == 2


def test_a_call_hung_up_on_request_shows_so_and_offers_no_button(db, admin):
    name, call_id = live_call(db)
    admin.post(f"/calls/live/{call_id}/hangup")
    handled(db, call_id, HANGUP_DONE)
    row = row_of(admin, name)
    assert "hung up" in row and "hang-up requested" not in row
    assert f"/calls/live/{call_id}/hangup" not in row


def test_a_request_no_listener_took_up_says_so_and_offers_the_button_again(db, admin):
    name, call_id = live_call(db)
    admin.post(f"/calls/live/{call_id}/hangup")
    handled(db, call_id, HANGUP_NOT_FOLLOWED)
    row = row_of(admin, name)
    assert "no AMI listener follows the call" in row
    assert f"/calls/live/{call_id}/hangup" in row


def test_the_outcome_of_a_hang_up_is_shown_in_indonesian(db, app):
    name, call_id = live_call(db)
    db.run(lambda s: request_hangup(s, call_id, actor="test"))
    handled(db, call_id, HANGUP_NOT_FOLLOWED)
    client = signed_in(app, make_staff(db, superuser=True, locale="id"))
    row = row_of(client, name)
    assert "no AMI listener follows the call" not in row
    assert f"/calls/live/{call_id}/hangup" in row
