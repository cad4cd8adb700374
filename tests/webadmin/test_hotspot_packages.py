"""The Packages screen: a package is created and edited with its price, validity,
quotas, speed with burst, devices at once and routers; bad values are refused beside
their field."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hotspot.routers import add_router
from tests.webadmin.conftest import page_with
from tests.webadmin.hotspot_data import (
    RUPIAH,
    hotspot_settings,
    make_package,
    new_name,
    page_text,
    ring,
)
from wallet.hotspot_models import InternetPackage
from wallet.staff import AuditRecord


@pytest.fixture
def settings(db):
    return hotspot_settings(db)


def add_test_router(db) -> int:
    return db.run(
        lambda s: (
            add_router(
                s, ring(), new_name("rt"), "127.0.0.1", port=1, username="api", password="pw"
            ).id
        )
    )


def package(db, package_id: int) -> InternetPackage:
    with db.transaction() as session:
        found = session.get(InternetPackage, package_id)
        found.routers  # noqa: B018 - loaded before the session ends
        return found


def full_form(name: str, router_id: int, **changes: str) -> dict:
    data = {
        "name": name,
        "profile_name": "",
        "description": "Sehari penuh",
        "price": "5000",
        "validity_value": "1",
        "validity_unit": "days",
        "time_quota": "2h",
        "data_quota": "5G",
        "upload": "512k",
        "download": "2M",
        "burst_upload": "1M",
        "burst_download": "4M",
        "threshold_upload": "384k",
        "threshold_download": "1536k",
        "burst_time": "16",
        "shared_users": "2",
        "routers": str(router_id),
    }
    data.update(changes)
    # A browser sends nothing for boxes left unticked.
    return {key: value for key, value in data.items() if not (key == "routers" and not value)}


def test_a_package_is_created_with_quotas_speed_burst_devices_and_routers(admin, db):
    router_id = add_test_router(db)
    name = new_name("Harian")
    response = admin.post("/packages/new", data=full_form(name, router_id))
    assert response.status_code == 302, page_text(response)
    package_id = int(response.headers["Location"].rsplit("/", 1)[1])
    created = package(db, package_id)
    assert (created.name, created.profile_name, created.price) == (name, name, 5_000 * RUPIAH)
    assert (created.validity_value, created.validity_unit) == (1, "days")
    assert (created.limit_uptime, created.limit_bytes_total) == (7200, 5 * 1024**3)
    assert created.rate_limit == "512k/2M 1M/4M 384k/1536k 16/16"
    assert created.shared_users == 2 and [r.id for r in created.routers] == [router_id]
    listing = page_with(admin, "/packages/", name)
    assert "2 Mbps down, 512 kbps up" in listing and "5GB" in listing and "2h" in listing


def test_the_edit_form_shows_the_package_as_it_is_and_saves_changes(admin, db):
    router_id = add_test_router(db)
    package_id = make_package(
        db,
        2_000 * RUPIAH,
        rate_limit="1M/3M 2M/6M 768k/2304k 8/8",
        limit_bytes_total=500 * 1024**2,
        router_ids=[router_id],
    )
    page = page_text(admin.get(f"/packages/{package_id}"))
    for value in (
        'value="2000"',
        'value="500M"',
        'value="1 Mbps"',
        'value="6 Mbps"',
        'value="2304 kbps"',
    ):
        assert value in page, value
    new_name_ = new_name("Mingguan")
    response = admin.post(
        f"/packages/{package_id}",
        data=full_form(
            new_name_,
            router_id,
            price="25000",
            validity_value="7",
            data_quota="",
            time_quota="",
            burst_upload="",
            burst_download="",
            threshold_upload="",
            threshold_download="",
            burst_time="",
            shared_users="",
            routers="",
            active="y",
        ),
    )
    assert response.status_code == 302, page_text(response)
    changed = package(db, package_id)
    assert (changed.name, changed.price, changed.validity_value) == (new_name_, 25_000 * RUPIAH, 7)
    assert changed.limit_bytes_total is None and changed.limit_uptime is None
    assert changed.rate_limit == "512k/2M" and changed.shared_users is None
    assert changed.routers == [] and changed.active is True
    with db.transaction() as session:
        record = (
            session.execute(
                select(AuditRecord)
                .where(AuditRecord.action == "package.edit")
                .order_by(AuditRecord.id.desc())
            )
            .scalars()
            .first()
        )
        assert record.before_data()["price"] == 2_000 * RUPIAH
        assert record.after_data()["price"] == 25_000 * RUPIAH


def test_a_package_taken_off_sale_is_marked_so_in_the_list(admin, db):
    router_id = add_test_router(db)
    package_id = make_package(db, 1_000 * RUPIAH, router_ids=[router_id])
    name = new_name("Lama")
    admin.post(f"/packages/{package_id}", data=full_form(name, router_id))  # no "active"
    assert package(db, package_id).active is False
    listing = page_with(admin, "/packages/", name)  # on sale first: it may be on a later page
    assert "Not on sale" in listing.split(name, 1)[1][:200]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"upload": "fast"}, "not a speed"),
        ({"download": ""}, "both an upload and a download rate"),
        ({"burst_time": ""}, "a burst needs both rates"),
        ({"data_quota": "lots"}, "not a data quota"),
        ({"time_quota": "forever"}, "not a time quota"),
        ({"profile_name": "default"}, "profile &#39;default&#39;"),
        ({"price": "-5"}, "cannot be negative"),
    ],
)
def test_a_bad_value_is_refused_beside_its_field_and_nothing_is_saved(admin, db, changes, message):
    router_id = add_test_router(db)
    name = new_name("Salah")
    response = admin.post("/packages/new", data=full_form(name, router_id, **changes))
    assert response.status_code == 200
    assert message in page_text(response)
    with db.transaction() as session:
        assert (
            session.execute(select(InternetPackage).where(InternetPackage.name == name)).first()
            is None
        )


def test_a_name_in_use_is_refused(admin, db):
    router_id = add_test_router(db)
    name = new_name("Dobel")
    make_package(db, 1_000 * RUPIAH, name=name)
    response = admin.post("/packages/new", data=full_form(name, router_id))
    assert response.status_code == 200 and "already uses that name" in page_text(response)


def test_speeds_are_taken_as_people_write_them_and_shown_the_same_way(admin, db):
    router_id = add_test_router(db)
    name = new_name("Cepat")
    response = admin.post(
        "/packages/new",
        data=full_form(
            name,
            router_id,
            upload="512 kbps",
            download="5 Mbps",
            burst_upload="1M",
            burst_download="7.5 Mbit/s",
            threshold_upload="384k",
            threshold_download="4m",
        ),
    )
    assert response.status_code == 302, page_text(response)
    with db.transaction() as session:
        from sqlalchemy import select

        from wallet.hotspot_models import InternetPackage

        created = session.execute(
            select(InternetPackage).where(InternetPackage.name == name)
        ).scalar_one()
        assert created.rate_limit == "512k/5M 1M/7500k 384k/4M 16/16"
        package_id = created.id
    page = page_text(admin.get(f"/packages/{package_id}"))
    assert 'value="512 kbps"' in page and 'value="5 Mbps"' in page
    refused = admin.post("/packages/new", data=full_form(new_name("X"), router_id, upload="fast"))
    assert refused.status_code == 200
    assert "write it like 5M, 5 Mbps or 512 kbps" in page_text(refused)
