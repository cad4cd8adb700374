from __future__ import annotations

import os

import pytest

from pulsa.settings import Settings, SettingsError, load_settings


def test_defaults_use_sqlite_in_the_working_folder_and_idr_without_decimals():
    settings = load_settings({})
    assert settings.database_url == "sqlite:///pulsa.db"
    assert (settings.currency, settings.precision) == ("IDR", 0)
    assert settings.call_slice_seconds == 60 and settings.call_mode == "auto"
    # No AMI servers to follow calls: static, so that no call is cut after its first slice.
    assert settings.call_mode_in_effect == "static"
    assert (settings.country_code, settings.timezone, settings.language) == ("", "UTC", "en")
    assert settings.secret_key == ""  # the web apps keep one in the database


def test_environment_variables_override_defaults():
    settings = load_settings(
        {
            "PULSA_CURRENCY": "usd",
            "PULSA_CALL_SLICE_SECONDS": "30",
            "PULSA_TIMEZONE": "Asia/Jakarta",
        }
    )
    assert (settings.currency, settings.precision) == ("USD", 2)
    assert settings.call_slice_seconds == 30 and settings.timezone == "Asia/Jakarta"


def test_config_file_is_read_and_the_environment_wins(tmp_path):
    config = tmp_path / "pulsa.env"
    config.write_text("# site settings\nPULSA_CURRENCY=USD\nPULSA_WEB_PORT=9000\n")
    settings = load_settings({"PULSA_CONFIG": str(config), "PULSA_WEB_PORT": "9100"})
    assert settings.currency == "USD" and settings.web_port == 9100


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"PULSA_CALL_SLICE_SECONDS": "ten"}, "whole number"),
        ({"PULSA_CALL_SLICE_SECONDS": "0"}, "at least 1"),
        ({"PULSA_CALL_MODE": "fast"}, "live"),
        ({"PULSA_TIMEZONE": "Mars/Olympus"}, "unknown time zone"),
        ({"PULSA_CURRENCY": "RUPIAH"}, "3-letter"),
        ({"PULSA_WEB_PORT": "70000"}, "TCP port"),
        ({"PULSA_UPLOAD_FOLDER": " "}, "PULSA_UPLOAD_FOLDER is empty"),
        ({"PULSA_AGI_WORKERS": "-1"}, "PULSA_AGI_WORKERS must be between 1 and 64"),
        ({"PULSA_AGI_WORKERS": "65"}, "PULSA_AGI_WORKERS must be between 1 and 64"),
        ({"PULSA_AGI_WORKERS": "two"}, "PULSA_AGI_WORKERS must be a whole number"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(variables, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(variables)


def test_unknown_pulsa_variables_are_reported_not_silently_used():
    settings = load_settings({"PULSA_CALL_SLICE": "30"})
    assert settings.unknown == ("PULSA_CALL_SLICE",)
    assert settings.call_slice_seconds == Settings().call_slice_seconds


def test_a_bad_config_file_line_is_reported_with_its_number(tmp_path):
    config = tmp_path / "pulsa.env"
    config.write_text("PULSA_CURRENCY=USD\nslice = 30\n")
    with pytest.raises(SettingsError, match=r"pulsa.env:2"):
        load_settings({"PULSA_CONFIG": str(config)})


def test_the_upload_folder_is_uploads_in_the_working_folder_unless_set():
    assert load_settings({}).upload_folder == "uploads"
    assert load_settings({"PULSA_UPLOAD_FOLDER": "/srv/pulsa/files"}).upload_folder == (
        "/srv/pulsa/files"
    )


def test_one_fastagi_process_by_default_and_zero_means_one_per_cpu_core():
    assert load_settings({}).fastagi_processes == 1
    assert load_settings({"PULSA_AGI_WORKERS": "3"}).fastagi_processes == 3
    cores = len(os.sched_getaffinity(0))
    assert load_settings({"PULSA_AGI_WORKERS": "0"}).fastagi_processes == cores


def test_line_is_off_without_its_secret_and_token_and_both_are_needed():
    assert not load_settings({}).line_configured
    on = load_settings({"PULSA_LINE_CHANNEL_SECRET": "s", "PULSA_LINE_ACCESS_TOKEN": "t"})
    assert on.line_configured
    assert on.line_api_url == "https://api.line.me"
    for alone in ("PULSA_LINE_CHANNEL_SECRET", "PULSA_LINE_ACCESS_TOKEN"):
        with pytest.raises(SettingsError, match="go together"):
            load_settings({alone: "x"})
    with pytest.raises(SettingsError, match="PULSA_LINE_API_URL"):
        load_settings({"PULSA_LINE_API_URL": "api.line.me"})


def test_line_content_comes_from_lines_data_domain_unless_another_address_is_set():
    assert load_settings({}).line_data_api_url == "https://api-data.line.me"
    local = load_settings({"PULSA_LINE_API_URL": "http://127.0.0.1:9000/"})
    assert (local.line_api_url, local.line_data_api_url) == ("http://127.0.0.1:9000",) * 2


def test_the_call_mode_is_live_by_default_only_where_a_listener_has_servers_to_follow():
    servers = {"PULSA_AMI_SERVERS": "pbx=pulsa:secret@127.0.0.1:5038"}
    assert load_settings(servers).call_mode_in_effect == "live"
    assert load_settings({**servers, "PULSA_CALL_MODE": "static"}).call_mode_in_effect == "static"
    assert load_settings({"PULSA_CALL_MODE": "live"}).call_mode_in_effect == "live"


def test_a_country_sets_the_code_currency_zone_and_language_each_of_which_may_be_set_apart():
    indonesia = load_settings({"PULSA_COUNTRY": "id"})
    assert (indonesia.country_code, indonesia.currency, indonesia.precision) == ("62", "IDR", 0)
    assert (indonesia.timezone, indonesia.language) == ("Asia/Jakarta", "id")
    bali = load_settings({"PULSA_COUNTRY": "ID", "PULSA_TIMEZONE": "Asia/Makassar"})
    assert (bali.country_code, bali.timezone) == ("62", "Asia/Makassar")
    timor = load_settings({"PULSA_COUNTRY": "TL"})
    assert (timor.country_code, timor.currency, timor.precision) == ("670", "USD", 2)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"PULSA_COUNTRY": "Narnia"}, "PULSA_COUNTRY: 'Narnia' is not one of ID"),
        ({"PULSA_LANGUAGE": "fr"}, "PULSA_LANGUAGE must be 'en' or 'id'"),
        ({"PULSA_CALL_MODE": "sometimes"}, "PULSA_CALL_MODE must be 'auto', 'live' or 'static'"),
    ],
)
def test_bad_country_language_and_mode_are_refused(variables, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(variables)
