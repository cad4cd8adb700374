"""The audit log screen shows amounts as money in the reader's language, while the record
keeps its exact JSON (micro-units)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from tests.conftest import make_account
from tests.webadmin.test_reports import top_up
from wallet.staff import AuditRecord


def _topup_record(db, account_id: int) -> AuditRecord:
    with db.transaction() as session:
        return (
            session.execute(
                select(AuditRecord)
                .where(
                    AuditRecord.action.contains("top"), AuditRecord.target.contains(str(account_id))
                )
                .order_by(AuditRecord.id.desc())
            )
            .scalars()
            .first()
        )


def test_a_top_up_in_the_audit_log_reads_as_money_and_is_stored_exactly(db, admin, admin_id):
    account_id = make_account(db)
    top_up(admin, db, account_id, "65.000", "cash")
    record = _topup_record(db, account_id)
    assert record.after_data()["balance"] == 65_000_000_000
    english = admin.get(f"/audit/?target={record.target}").get_data(as_text=True)
    assert "IDR 65,000" in english and ">65000000000<" not in english
    assert 'title="65000000000"' in english  # the exact value, for who needs it
    indonesian = admin_id.get(f"/audit/?target={record.target}").get_data(as_text=True)
    assert "Rp65.000" in indonesian


def test_an_action_reads_as_words_with_its_code_beside_and_either_finds_it(db, admin, admin_id):
    account_id = make_account(db)
    top_up(admin, db, account_id, "12.000", "cash")
    target = _topup_record(db, account_id).target
    indonesian = admin_id.get(f"/audit/?target={target}").get_data(as_text=True)
    assert (
        "Isi ulang" in indonesian and '<code class="muted small">wallet.top_up</code>' in indonesian
    )
    english = admin.get(f"/audit/?target={target}").get_data(as_text=True)
    assert "Top-up<br>" in english
    # The filter takes the code, its beginning, or words of the label in the reader's
    # language; a label of another action finds nothing of this one.
    for words in ("wallet.top_up", "wallet.", "isi ulang"):
        found = admin_id.get(f"/audit/?target={target}&action={words}").get_data(as_text=True)
        assert ">wallet.top_up<" in found, words
    other = admin_id.get(f"/audit/?target={target}&action=Paket+tarif+dibuat")
    assert ">wallet.top_up<" not in other.get_data(as_text=True)


def test_a_target_reads_in_the_readers_words_and_either_form_finds_it(db, admin_id):
    account_id = make_account(db)
    admin_id.post(f"/customers/{_customer(db, account_id)}/status", data={"status": "disabled"})
    top = admin_id.get(f"/audit/?target=customer {_customer(db, account_id)}")
    page = top.get_data(as_text=True)
    customer = _customer(db, account_id)
    assert f">pelanggan {customer}<" in page and f'title="customer {customer}"' in page
    typed = admin_id.get(f"/audit/?target=pelanggan {customer}").get_data(as_text=True)
    assert f">pelanggan {customer}<" in typed


def _customer(db, account_id: int) -> int:
    from wallet.models import Account

    with db.transaction() as session:
        return session.get(Account, account_id).customer_id


def test_a_wallet_typed_in_indonesian_is_not_found_in_a_bank_account(db, admin_id):
    from tests.webadmin.conftest import unique_name
    from wallet.payments import BankAccount

    number = unique_name("03-")
    saved = admin_id.post(
        "/bank-accounts/new",
        data={"bank_name": "BNI", "account_number": number, "holder_name": "RT", "position": "0"},
    )
    assert saved.status_code == 302
    with db.transaction() as session:
        bank_id = session.execute(
            select(BankAccount.id).where(BankAccount.account_number == number)
        ).scalar_one()
    bank = admin_id.get(f"/audit/?target=rekening bank {bank_id}").get_data(as_text=True)
    assert f">rekening bank {bank_id}<" in bank
    wallet = admin_id.get(f"/audit/?target=dompet {bank_id}").get_data(as_text=True)
    assert f">rekening bank {bank_id}<" not in wallet


def test_who_did_it_reads_in_the_readers_words_with_the_stored_name_beside(db, admin, admin_id):
    from tests.webadmin.conftest import unique_name
    from wallet.staff import record_audit

    target = unique_name("customer ")
    actors = {
        "portal:customer:7": ("pelanggan 7 di portal", "customer 7 on the portal"),
        "telegram:customer:8": ("pelanggan 8 lewat Telegram", "customer 8 on Telegram"),
        "telegram:andi": ("andi lewat Telegram", "andi on Telegram"),
        "line:contact:line:U1234": ("kontak chat lewat LINE", "a chat contact on LINE"),
        "web:pemilik": ("pemilik", "pemilik"),
        "cli": ("baris perintah", "command line"),
        "demo": ("data demo", "demo data"),
        "system": ("pulsa", "pulsa"),
        "someone's script": ("someone&#39;s script", "someone&#39;s script"),
    }

    def write(session):
        for actor in actors:
            record_audit(session, actor, "customer.update", target)

    db.run(write)
    indonesian = admin_id.get(f"/audit/?target={target}").get_data(as_text=True)
    english = admin.get(f"/audit/?target={target}").get_data(as_text=True)
    for stored, (in_indonesian, in_english) in actors.items():
        title = stored.replace("'", "&#39;")
        assert f'<td title="{title}">{in_indonesian}</td>' in indonesian, stored
        assert f'<td title="{title}">{in_english}</td>' in english, stored


def _settings(client, **changes) -> None:
    data = {
        "operator_name": "pulsa",
        "sign_in_banner": "",
        "display_precision": "0",
        "timezone": "UTC",
        "call_slice_seconds": "60",
        "call_mode": "live",
        "low_balance_threshold": "0",
        **changes,
    }
    assert client.post("/settings/", data=data).status_code == 302


def test_a_settings_change_reads_in_words_with_the_stored_keys_in_tooltips(db, admin, admin_id):
    _settings(admin_id)  # live, whatever the environment's mode comes to here
    _settings(admin_id, call_mode="static", timezone="Asia/Jakarta")
    try:
        indonesian = admin_id.get("/audit/?action=settings.save").get_data(as_text=True)
        english = admin.get("/audit/?action=settings.save").get_data(as_text=True)
    finally:
        _settings(admin_id)
    # The glossary keeps "static" (a call mode) as it is in Indonesian.
    assert '<span class="muted" title="call_mode">Mode panggilan:</span> static' in indonesian
    assert '<span class="muted" title="timezone">Zona waktu:</span> Asia/Jakarta' in indonesian
    assert '<span class="muted" title="call_mode">Call mode:</span> static' in english
    assert '<span class="muted" title="call_mode">Mode panggilan:</span> live' in indonesian
    assert ">call_mode:<" not in indonesian and ">timezone:<" not in indonesian


def test_values_read_as_words_times_as_local_time_and_the_record_stays_exact(db, admin, admin_id):
    from tests.webadmin.conftest import unique_name
    from wallet.staff import record_audit

    target = unique_name("subscription ")
    moment = datetime(2026, 12, 4, 3, 15, 7, 123456)  # naive UTC, as pulsa stores moments
    after = {
        "auto_renew": True,
        "paid": False,
        "method": "cash",
        "status": "pending",
        "ends_at": moment,
        "price": 25_000_000_000,
        "customers": "change",
        "routers": ["rt-1", "rt-2"],
        "validity": "30 days",
        "setup": "done",
        "to": "customer:50",
        "by": "phone",
    }

    def write(session):
        record_audit(session, "web:pemilik", "internet.buy", target, after=after)

    db.run(write)
    _settings(admin_id, timezone="Asia/Jakarta")
    try:
        page = admin_id.get(f"/audit/?target={target}").get_data(as_text=True)
        english = admin.get(f"/audit/?target={target}").get_data(as_text=True)
    finally:
        _settings(admin_id)
    words = {
        "auto_renew": "Perpanjangan otomatis:</span> Ya",
        "paid": "Dibayar:</span> Tidak",
        "method": "Cara bayar:</span> Tunai",
        "status": "Status:</span> Menunggu",
        "ends_at": "Berakhir pada:</span> 2026-12-04 10:15:07<",  # Jakarta is UTC+7
        "price": "Harga:</span> Rp25.000",
        "customers": "Pelanggan:</span> Ubah",  # a role's grant of a screen
        "routers": "Router:</span> rt-1, rt-2",
        "validity": "Masa berlaku:</span> 30 hari",
        "setup": "Penyiapan awal:</span> Selesai",
        "to": "Dikirim ke:</span> pelanggan 50",  # a notice's recipient
        "by": "Ditautkan lewat:</span> nomor telepon yang dibagikan di chat",
    }
    for key, shown in words.items():
        assert f'title="{key}">{shown}' in page, key
    assert "123456" not in page.replace('title="&#34;2026-12-04 03:15:07.123456&#34;"', "")
    assert "Auto-renewal:</span> Yes" in english and "Paid:</span> No" in english
    with db.transaction() as session:
        record = session.execute(
            select(AuditRecord).where(AuditRecord.target == target)
        ).scalar_one()
        assert record.after_data() == {
            **after,
            "ends_at": "2026-12-04 03:15:07.123456",
        }
