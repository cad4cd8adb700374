"""The references and notes the wallet writes on ledger entries are read back as facts,
the way they are written today and the way old rows have them; what a person typed stays
as typed."""

from __future__ import annotations

from wallet import references
from wallet.references import Fact, read_note, read_reference


def test_what_the_services_write_is_read_back_as_the_same_facts():
    assert read_reference("transfer", references.transfer_to(12)) == Fact(
        references.TRANSFER_TO, {"account": 12}
    )
    assert read_reference("transfer", references.transfer_from(7)) == Fact(
        references.TRANSFER_FROM, {"account": 7}
    )
    assert read_reference("topup", references.voucher("K7P2-Q9XZ")) == Fact(
        references.VOUCHER, {"code": "K7P2-Q9XZ"}
    )
    assert read_reference("topup", references.payment_request(31)) == Fact(
        references.PAYMENT_REQUEST, {"request": 31}
    )
    assert read_reference("package", references.package("Weekly 5 GB", "budi")) == Fact(
        references.PACKAGE, {"package": "Weekly 5 GB", "login": "budi"}
    )
    assert read_reference("package", references.extension(5, 7)) == Fact(
        references.EXTENSION, {"subscription": 5, "days": 7}
    )
    assert read_note("adjustment", references.DEMO_OPENING_NOTE) == Fact(references.DEMO_OPENING)
    assert read_note("topup", references.REGISTRATION_NOTE) == Fact(references.REGISTRATION)


def test_old_rows_are_read_as_they_were_stored():
    # The stored form is unchanged: rows written before this module read the same.
    assert read_reference("transfer", "to account 3").values == {"account": 3}
    assert read_reference("package", "subscription 9 +30 days").values == {
        "subscription": 9,
        "days": 30,
    }
    assert read_reference("package", "Day pass for a for b").values == {
        "package": "Day pass for a",
        "login": "b",
    }


def test_what_a_person_typed_stays_as_typed():
    assert read_reference("topup", "BRI 0042") == Fact(references.TYPED, {"text": "BRI 0042"})
    # The same words on another kind of entry are not the services' forms.
    assert read_reference("topup", "to account 3").what == references.TYPED
    assert read_reference("refund", "voucher X").what == references.TYPED
    assert read_note("adjustment", "meter was wrong").what == references.TYPED
    assert read_reference("topup", None) is None and read_note("topup", "") is None
