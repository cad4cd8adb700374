"""The hotspot settings and the router key: bad values stop with the variable's name,
and a rotated key still opens passwords stored with the old one."""

from __future__ import annotations

import pytest

from hotspot.credentials import CredentialError, RouterKeyring, generate_key
from pulsa.settings import SettingsError, load_settings


def test_hotspot_settings_have_working_defaults():
    settings = load_settings({})
    assert settings.hotspot_sync_seconds == 60 and settings.router_key == ""
    assert settings.hotspot_login_url.startswith("http://")


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"PULSA_ROUTER_KEY": "not-a-key"}, "PULSA_ROUTER_KEY"),
        ({"PULSA_HOTSPOT_SYNC_SECONDS": "1"}, "PULSA_HOTSPOT_SYNC_SECONDS"),
        ({"PULSA_ROUTER_TIMEOUT_SECONDS": "0"}, "PULSA_ROUTER_TIMEOUT_SECONDS"),
        ({"PULSA_PORTAL_URL": "portal.example"}, "PULSA_PORTAL_URL"),
        ({"PULSA_HOTSPOT_LOGIN_URL": "10.5.50.1/login"}, "PULSA_HOTSPOT_LOGIN_URL"),
    ],
)
def test_bad_hotspot_settings_name_the_variable(variables, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(variables)


def test_two_comma_separated_keys_are_accepted():
    keys = f"{generate_key()},{generate_key()}"
    assert load_settings({"PULSA_ROUTER_KEY": keys}).router_key == keys


def test_a_password_stored_with_the_old_key_opens_after_rotation_and_rekeys_to_the_new():
    old, new = generate_key(), generate_key()
    token = RouterKeyring(old).encrypt("pässword")
    rotated = RouterKeyring(f"{new},{old}")
    assert rotated.decrypt(token) == "pässword"
    rekeyed = rotated.rotate(token)
    assert RouterKeyring(new).decrypt(rekeyed) == "pässword"
    with pytest.raises(CredentialError):
        RouterKeyring(old).decrypt(rekeyed)


def test_no_key_at_all_is_refused_with_how_to_make_one():
    with pytest.raises(CredentialError, match="keygen"):
        RouterKeyring("")
