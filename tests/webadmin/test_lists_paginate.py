"""Issue 5, the lists that still showed every row: internet packages, routers, hotspot
registrations waiting for payment, a customer's SIP identities and hotspot logins, and a
login's packages bought and extensions. Each shows one page and leads to the next."""

from __future__ import annotations

import re

import pytest

from hotspot.routers import add_router
from tests.conftest import make_account, unique_key
from tests.webadmin.hotspot_data import (
    RUPIAH,
    customer_of,
    hotspot_settings,
    make_login,
    make_package,
    new_name,
    page_text,
    ring,
)
from wallet.customers import add_identity
from wallet.hotspot_models import Router
from wallet.internet import buy_package, create_login, extend_subscription, register_for_hotspot
from webadmin.ui import PER_PAGE


@pytest.fixture
def settings(db):
    return hotspot_settings(db)


def count(pattern: str, text: str) -> int:
    return len(re.findall(pattern, text))


def pages_of(admin, url: str, arg: str = "page") -> list[str]:
    """Every page of the list at `url` (its first page tells how many there are)."""
    first = page_text(admin.get(url))
    found = re.search(r"Page 1 of (\d+)", first)
    total = int(found.group(1)) if found else 1
    joiner = "&" if "?" in url else "?"
    return [first] + [page_text(admin.get(f"{url}{joiner}{arg}={n}")) for n in range(2, total + 1)]


def test_packages_beyond_a_page_go_on_to_the_next_page(db, admin):
    label = new_name("pagepkg")
    for number in range(PER_PAGE + 1):
        make_package(db, name=f"{label}{number:02d}")
    pages = pages_of(admin, "/packages/")
    assert count(r'href="/packages/\d+"', pages[0]) == PER_PAGE
    assert 'href="/packages/?page=2"' in pages[0]
    every = "".join(pages)
    assert all(f"{label}{number:02d}<" in every for number in range(PER_PAGE + 1))


def test_routers_beyond_a_page_go_on_to_the_next_page(db, admin):
    label = new_name("pagert")

    def work(session):
        for number in range(PER_PAGE + 1):
            router = add_router(
                session, ring(), f"{label}{number:02d}", "127.0.0.1", username="u", password="p"
            )
            # Disabled: the other tests' syncs must not try to reach them.
            router.enabled = False

    db.run(work)
    pages = pages_of(admin, "/routers/")
    assert count(r'href="/routers/\d+"', pages[0]) == PER_PAGE
    assert 'href="/routers/?page=2"' in pages[0]
    every = "".join(pages)
    assert all(f"{label}{number:02d}<" in every for number in range(PER_PAGE + 1))
    with db.transaction() as session:
        assert session.query(Router).filter(Router.name.startswith(label)).count() == PER_PAGE + 1


def test_registrations_waiting_beyond_a_page_go_on_to_the_next_page(db, admin):
    package_id = make_package(db)
    label = new_name("pagereg")[:20]

    def work(session):
        for number in range(PER_PAGE + 1):
            register_for_hotspot(
                session,
                name=f"Waiting {number}",
                username=f"{label}{number:02d}",
                package=package_id,
                currency="IDR",
            )

    db.run(work)
    pages = pages_of(admin, "/registrations/", arg="pending_page")
    waiting = pages[0].split("<h2>Decided</h2>")[0]
    assert count(r'href="/registrations/\d+"', waiting) == PER_PAGE
    assert "pending_page=2" in waiting
    every = "".join(page.split("<h2>Decided</h2>")[0] for page in pages)
    assert all(f"<code>{label}{number:02d}</code>" in every for number in range(PER_PAGE + 1))


def identities_part(page: str) -> str:
    return page.split("<h2>SIP identities</h2>")[1].split("</section>")[0]


def test_a_customers_sip_identities_beyond_a_page_go_on_to_the_next_page(db, admin):
    account_id = make_account(db)
    label = new_name("pageid")

    def work(session):
        for number in range(PER_PAGE + 1):
            add_identity(session, account_id, "accountcode", f"{label}{number:02d}")

    db.run(work)
    customer_id = customer_of(db, account_id)
    first = identities_part(page_text(admin.get(f"/customers/{customer_id}")))
    assert count(rf"<code>{label}\d\d</code>", first) == PER_PAGE
    assert f"/customers/{customer_id}?identities_page=2" in first
    second = identities_part(page_text(admin.get(f"/customers/{customer_id}?identities_page=2")))
    assert count(rf"<code>{label}\d\d</code>", second) == 1
    assert f"<code>{label}{PER_PAGE:02d}</code>" in second


def test_an_identity_refused_on_a_later_page_keeps_the_pager_on_the_customer_page(db, admin):
    account_id = make_account(db)
    label = new_name("pageid")
    db.run(
        lambda s: [
            add_identity(s, account_id, "accountcode", f"{label}{n:02d}")
            for n in range(PER_PAGE + 1)
        ]
    )
    customer_id = customer_of(db, account_id)
    page = page_text(
        admin.post(
            f"/customers/{customer_id}/identities", data={"kind": "accountcode", "value": ""}
        )
    )
    assert f'href="/customers/{customer_id}?identities_page=2"' in page


def logins_part(page: str) -> str:
    return page.split("<h2>Internet logins</h2>")[1].split("</section>")[0]


def test_a_customers_hotspot_logins_beyond_a_page_go_on_to_the_next_page(db, admin):
    account_id = make_account(db)
    customer_id = customer_of(db, account_id)
    label = new_name("pagelogin")[:20]

    def work(session):
        return [
            create_login(session, customer_id, f"{label}{number:02d}").id
            for number in range(PER_PAGE + 1)
        ]

    login_ids = db.run(work)
    first = logins_part(page_text(admin.get(f"/customers/{customer_id}")))
    assert count(rf"<code>{label}\d\d</code>", first) == PER_PAGE
    assert f'href="/internet/{login_ids[0]}"' in first
    assert f"/customers/{customer_id}?logins_page=2" in first
    second = logins_part(page_text(admin.get(f"/customers/{customer_id}?logins_page=2")))
    assert count(rf"<code>{label}\d\d</code>", second) == 1
    assert f"<code>{label}{PER_PAGE:02d}</code>" in second


def test_a_customer_without_hotspot_logins_shows_none_and_offers_to_make_one(db, admin):
    customer_id = customer_of(db, make_account(db))
    page = page_text(admin.get(f"/customers/{customer_id}"))
    logins = page.split("<h2>Internet logins</h2>")[1].split("</section>")[0]
    assert "No hotspot login yet." in logins
    assert "<li><" not in logins  # no login listed
    assert "Make a hotspot login" in logins


def bought_many(db, times: int) -> tuple[int, list[int]]:
    """A login with `times` packages bought one after another; its id and theirs."""
    package_id = make_package(db, 1_000 * RUPIAH)
    _, login_id = make_login(db, times * 1_000 * RUPIAH)
    ids = db.run(
        lambda s: [
            buy_package(s, login_id, package_id, key=unique_key("pagebuy")).id for _ in range(times)
        ]
    )
    return login_id, ids


def bought_part(page: str) -> str:
    return page.split("<h2>Packages bought</h2>")[1].split("<h2>Extensions</h2>")[0]


def extensions_part(page: str) -> str:
    return page.split("<h2>Extensions</h2>")[1]


def test_packages_bought_beyond_a_page_go_on_to_the_next_page(db, admin):
    login_id, ids = bought_many(db, PER_PAGE + 1)
    first = bought_part(page_text(admin.get(f"/internet/{login_id}")))
    assert count(r"<tr>\s*<td>\d+</td>", first) == PER_PAGE
    assert f"/internet/{login_id}?subscriptions_page=2" in first
    second = bought_part(page_text(admin.get(f"/internet/{login_id}?subscriptions_page=2")))
    assert count(r"<tr>\s*<td>\d+</td>", second) == 1
    # Newest first: the first one bought is the one left for the second page.
    assert f"<td>{ids[0]}</td>" in second


def test_extensions_beyond_a_page_go_on_to_the_next_page(db, admin):
    login_id, (subscription_id,) = bought_many(db, 1)

    def work(session):
        for number in range(PER_PAGE + 1):
            extend_subscription(
                session,
                subscription_id,
                1,
                key=unique_key("pageext"),
                actor="test",
                reason=f"pageext reason {number:02d}",
            )

    db.run(work)
    first = extensions_part(page_text(admin.get(f"/internet/{login_id}")))
    assert count(r"pageext reason \d\d", first) == PER_PAGE
    assert "pageext reason 00" not in first  # newest first
    assert f"/internet/{login_id}?extensions_page=2" in first
    second = extensions_part(page_text(admin.get(f"/internet/{login_id}?extensions_page=2")))
    assert count(r"pageext reason \d\d", second) == 1
    assert "pageext reason 00" in second
