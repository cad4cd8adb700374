"""One wallet spent from three sides at once, on PostgreSQL and MariaDB: a customer buying
internet packages in the portal (through the Flask app, each form sent twice at the same
moment, like a double tap), calls authorized and settled by the AGI service, and staff
topping the wallet up (each form sent twice too). Afterwards: the balance never went below
zero, nothing was charged or credited twice, and `pulsa audit` (wallet.audit) is clean.

Only the server databases: SQLite serializes every writer, there is nothing to race.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections import Counter

import pytest
from sqlalchemy import select, update

from agi.authorize import AgiCall, CallAuthorizer
from portal import create_app
from pulsa.settings import load_settings
from tests.databases import selected_backends
from tests.portal.conftest import PortalClient, make_customer, random_address
from wallet.audit import audit
from wallet.backoffice import staff_top_up
from wallet.customers import add_identity
from wallet.db import Database
from wallet.hotspot_models import Subscription
from wallet.internet import create_login, create_package
from wallet.models import Account, CallRecord, LedgerEntry, TariffPlan
from wallet.tariffs import ensure_plan, import_rates

pytestmark = pytest.mark.slow

SERVER_BACKENDS = [name for name in ("postgresql", "mariadb") if name in selected_backends()]
UNIT = 1_000_000
PRICE = 25 * UNIT  # a package
TOP_UP = 40 * UNIT
OPENING = 100 * UNIT
BUYERS, CALLERS, STAFF = 4, 4, 2  # buyers and staff work in pairs sending the same form
ROUNDS = 6
_numbers = itertools.count(1)


@pytest.fixture(params=SERVER_BACKENDS)
def database(request: pytest.FixtureRequest, migrated_urls: dict[str, str]):
    db = Database(migrated_urls[request.param], pool_size=15)
    yield db
    db.dispose()


def a_wallet_that_calls_and_browses(db: Database):
    """A customer with a portal password, a caller ID on a per-second tariff (1 unit a
    second), a hotspot login and a package to buy."""
    person = make_customer(db, OPENING)
    tag = secrets.token_hex(3)
    number = f"62877{secrets.randbelow(10**7):07d}"

    def work(session):
        plan = f"race-{tag}"
        ensure_plan(session, plan, "Asia/Jakarta")
        import_rates(
            session, plan, "prefix,price_per_minute,initial_block,increment,grace\n62,60,1,1,0\n"
        )
        plan_id = session.execute(select(TariffPlan.id).where(TariffPlan.name == plan)).scalar_one()
        session.execute(
            update(Account).where(Account.id == person.account_id).values(tariff_plan_id=plan_id)
        )
        add_identity(session, person.account_id, "callerid", number)
        login = create_login(session, person.customer_id, f"race{tag}", "wifi1234")
        package = create_package(
            session, f"Race {tag}", price=PRICE, validity_value=1, validity_unit="hours"
        )
        return login.id, package.id

    login_id, package_id = db.run(work)
    return person, number, login_id, package_id


def test_buying_in_the_portal_while_calls_are_authorized_and_staff_top_up(database, tmp_path):
    person, number, login_id, package_id = a_wallet_that_calls_and_browses(database)
    settings = load_settings(
        {
            "PULSA_DATABASE_URL": database.url,
            "PULSA_SECRET_KEY": "race-secret",
            "PULSA_CALL_MODE": "live",
            "PULSA_CALL_SLICE_SECONDS": "20",
        }
    )
    app = create_app(settings, database, upload_folder=tmp_path)
    app.test_client_class = PortalClient
    authorizer = CallAuthorizer(settings, database, refresh_seconds=3600)
    start = threading.Barrier(BUYERS + CALLERS + STAFF)
    pairs = [threading.Barrier(2) for _ in range((BUYERS + STAFF) // 2)]
    failures: list[str] = []
    buy_keys: list[str] = [secrets.token_hex(16) for _ in range(BUYERS // 2 * ROUNDS)]
    top_up_keys: list[str] = [f"race-top-up:{secrets.token_hex(8)}" for _ in range(ROUNDS)]
    answers: Counter[int | str] = Counter()
    calls: list[tuple[int, int]] = []  # (call id, billed seconds asked)
    lock = threading.Lock()

    def buyer(pair: int) -> None:
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = random_address()
        assert client.sign_in(person.phone).status_code == 302
        start.wait(timeout=60)
        for round_ in range(ROUNDS):
            key = buy_keys[pair * ROUNDS + round_]
            pairs[pair].wait(timeout=60)  # both of the pair send this form now
            answer = client.post(
                f"/internet/buy/{package_id}", data={"key": key, "login": str(login_id)}
            )
            outcome = answer.status_code
            if outcome == 400 and "Not enough credit" in answer.get_data(as_text=True):
                outcome = "short of credit"  # the calls took it first: allowed
            with lock:
                answers[outcome] += 1

    def caller(n: int) -> None:
        start.wait(timeout=60)
        for round_ in range(ROUNDS):
            uniqueid = f"1795410450.{n}{round_}{next(_numbers)}"
            decision = authorizer.authorize(
                AgiCall(dialled="6221555000", callerid=number, uniqueid=uniqueid)
            )
            if decision is None or decision.call_id is None:
                continue  # NOCREDIT: the others took it, which is allowed
            billsec = min(decision.slice_ms // 1000, 5 + round_)
            settled = authorizer.settle(str(decision.call_id), "ANSWER", str(billsec), uniqueid)
            again = authorizer.settle(str(decision.call_id), "ANSWER", str(billsec), uniqueid)
            if settled.cost != again.cost:
                failures.append(f"call {decision.call_id} settled twice differently")
            with lock:
                calls.append((decision.call_id, billsec))

    def staff(pair: int) -> None:
        start.wait(timeout=60)
        for key in top_up_keys:
            pairs[pair].wait(timeout=60)
            database.run(
                lambda s, key=key: staff_top_up(
                    s,
                    person.account_id,
                    TOP_UP,
                    key=key,
                    method="cash",
                    reference=None,
                    note=None,
                    actor="web:boss",
                )
            )

    def guarded(work, *args):
        try:
            work(*args)
        except BaseException as error:  # the assertion below names it
            failures.append(f"{work.__name__}{args}: {error!r}")
            for barrier in [start, *pairs]:
                barrier.abort()

    threads = [threading.Thread(target=guarded, args=(buyer, n // 2)) for n in range(BUYERS)]
    threads += [threading.Thread(target=guarded, args=(caller, n)) for n in range(CALLERS)]
    threads += [
        threading.Thread(target=guarded, args=(staff, BUYERS // 2 + n // 2)) for n in range(STAFF)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert set(answers) <= {302, "short of credit"}, answers

    with database.transaction() as session:
        account = session.get(Account, person.account_id)
        entries = list(
            session.execute(
                select(LedgerEntry).where(LedgerEntry.account_id == person.account_id)
            ).scalars()
        )
        subscriptions = list(
            session.execute(select(Subscription).where(Subscription.login_id == login_id)).scalars()
        )
        records = list(
            session.execute(
                select(CallRecord).where(CallRecord.account_id == person.account_id)
            ).scalars()
        )
        report = audit(session)
    assert report.clean, report.problems
    assert account.balance >= 0 and min(entry.balance_after for entry in entries) >= 0
    kinds = Counter(entry.kind for entry in entries)
    # Each form sent twice counts once: a top-up per key, at most a package per key.
    assert kinds["topup"] == 1 + len(top_up_keys)
    bought = len(subscriptions)
    sent = {f"portal-buy:{person.customer_id}:{key}" for key in buy_keys}
    assert {s.purchase_key for s in subscriptions} <= sent
    assert sorted(s.ledger_entry_id for s in subscriptions) == sorted(
        entry.id for entry in entries if entry.kind == "package"
    )  # each package paid by exactly one debit
    assert 1 <= bought <= len(buy_keys) and calls
    # Each call charged once, by its one CDR, and what was charged is what rating says.
    assert len(records) == len({call_id for call_id, _ in calls})
    charged = -sum(entry.amount for entry in entries if entry.kind == "call")
    assert charged == sum(record.cost for record in records)
    assert account.balance == (OPENING + TOP_UP * len(top_up_keys) - PRICE * bought - charged)
    assert account.held == 0  # every call settled, every hold closed
