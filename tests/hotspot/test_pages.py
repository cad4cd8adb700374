"""The hotspot page bundle: RouterOS variables where the router fills them in, the
operator's branding (escaped, `$` included), portal links and walled-garden entries,
and scripts a browser can parse."""

from __future__ import annotations

import re
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotspot.pages import (
    PAGES,
    Branding,
    PortalUrlError,
    check_portal_url,
    load_logo,
    render_bundle,
    routeros_string,
    routeros_value,
    walled_garden_commands,
)
from tests.hotspot.test_cli_hotspot import ok, site  # noqa: F401 - the `site` fixture

PORTAL = "https://portal.rt05.net"


def bundle(**options) -> dict[str, str]:
    options.setdefault("brand", "RT 05 Net")
    options.setdefault("portal_url", PORTAL)
    return render_bundle(Branding(**options))


def test_the_bundle_has_the_five_pages_and_the_walled_garden_script():
    assert set(bundle()) == {*PAGES, "walled-garden.rsc"}


@pytest.mark.parametrize(
    ("page", "variables"),
    [
        (
            "login.html",
            [
                "$(link-login-only)",
                "$(username)",
                "$(error)",
                "$(chap-id)",
                "$(chap-challenge)",
                "$(link-orig)",
                "$(mac-esc)",
            ],
        ),
        ("status.html", ["$(username)", "$(link-logout)", "$(bytes-out-nice)", "$(uptime)"]),
        ("logout.html", ["$(username)", "$(link-login)"]),
        ("alogin.html", ["$(link-redirect)", "$(link-status)"]),
        ("error.html", ["$(error)", "$(link-login-only)"]),
    ],
)
def test_each_page_uses_the_routeros_variables_it_needs(page, variables):
    text = bundle()[page]
    for variable in variables:
        assert variable in text, variable
    assert text.count("$(if ") == text.count("$(endif)")


def test_the_brand_is_escaped_so_neither_html_nor_routeros_reads_it_as_code():
    text = bundle(brand='Warung <b>"Net"</b> $(username)')["login.html"]
    assert "<b>" not in text and "&lt;b&gt;" in text
    assert "&#36;(username)" in text


def test_the_logo_is_inlined_so_it_shows_before_login():
    text = bundle(logo=b"\x89PNG fake", logo_type="image/png")["status.html"]
    assert 'src="data:image/png;base64,iVBORyBmYWtl"' in text


def test_pages_link_to_register_and_help_on_the_portal():
    pages = bundle()
    assert f'href="{PORTAL}/register?mac=$(mac-esc)"' in pages["login.html"]
    assert f'href="{PORTAL}/register/help"' in pages["error.html"]
    without = bundle(portal_url="")
    assert "register" not in without["login.html"] and "walled-garden.rsc" not in without


def test_the_walled_garden_lets_the_portal_through_over_http_and_https():
    assert walled_garden_commands(PORTAL) == [
        "/ip hotspot walled-garden add action=allow dst-host=portal.rt05.net "
        'comment="pulsa portal"',
        "/ip hotspot walled-garden ip add action=accept dst-host=portal.rt05.net "
        'comment="pulsa portal"',
    ]
    assert walled_garden_commands("http://10.5.50.10:8080/") == [
        "/ip hotspot walled-garden ip add action=accept dst-address=10.5.50.10 "
        'comment="pulsa portal"'
    ]


def test_the_scripts_of_the_login_page_parse_in_javascript(tmp_path):
    page = bundle()["login.html"]
    scripts = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    assert len(scripts) == 1
    source = tmp_path / "login.js"
    # What the router sends: its variables replaced by their values.
    source.write_text(
        scripts[0].replace("$(chap-id)", "\\071").replace("$(chap-challenge)", "\\123"),
        encoding="utf-8",
    )
    result = subprocess.run(["node", "--check", str(source)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_login_page_finishes_a_qr_login_with_chap(tmp_path):
    """Run the page's script in node with a stand-in document: opened as
    /login?username=AB2&password=AB2, it posts the CHAP hash of the password."""
    page = bundle()["login.html"]
    script = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)[0]
    script = script.replace("$(chap-id)", "\\001").replace("$(chap-challenge)", "\\002")
    harness = tmp_path / "run.js"
    harness.write_text(
        """
const crypto = require('crypto');
function hexMD5(s) { return crypto.createHash('md5').update(s, 'latin1').digest('hex'); }
const sent = {};
const field = () => ({ value: '', focus() {} });
const document = {
  login: { username: field(), password: field(), submit() { sent.plain = true; } },
  sendin: { username: field(), password: field(), submit() {
    sent.user = document.sendin.username.value; sent.hash = document.sendin.password.value; } },
};
const window = { location: { search: '?username=AB2&password=AB2' } };
"""
        + script
        + "\nconsole.log(JSON.stringify(sent));\n",
        encoding="utf-8",
    )
    result = subprocess.run(["node", str(harness)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    import hashlib
    import json

    expected = hashlib.md5(b"\x01AB2\x02").hexdigest()
    assert json.loads(result.stdout) == {"user": "AB2", "hash": expected}


def test_pulsa_hotspot_pages_writes_the_bundle(site, tmp_path):  # noqa: F811
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG tiny")
    out = ok(
        "hotspot",
        "pages",
        str(tmp_path / "hs"),
        "--brand",
        "Kopi Net",
        "--logo",
        str(logo),
        "--portal-url",
        PORTAL,
    )
    assert "walled-garden.rsc" in out
    assert "Kopi Net" in (tmp_path / "hs" / "login.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "url",
    [
        "javascript://portal.rt05.net/%0aalert(document.cookie)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://portal.rt05.net/",
        "//portal.rt05.net/portal",
        "https://portal rt05.net/",
        "https://portal.rt05.net;/system reset-configuration",
        "https://portal.rt05.net\n/system reset-configuration",
        'https://portal.rt05.net"/x',
        "https://admin:secret@portal.rt05.net/",
        "https://portal.rt05.net/?next=javascript:alert(1)",
        "https://portal.rt05.net:70000/",
        "https://$(username).rt05.net/",
        "https:///portal",
    ],
)
def test_a_portal_address_that_is_not_http_to_a_host_is_refused_everywhere(url):
    with pytest.raises(PortalUrlError):
        check_portal_url(url)
    with pytest.raises(PortalUrlError):
        bundle(portal_url=url)
    with pytest.raises(PortalUrlError):
        walled_garden_commands(url)


@pytest.mark.parametrize(
    ("url", "checked"),
    [
        ("https://portal.rt05.net/portal/", "https://portal.rt05.net/portal"),
        ("HTTP://Portal.RT05.net:8080", "http://portal.rt05.net:8080"),
        ("http://10.5.50.10/", "http://10.5.50.10"),
        ("http://[2001:db8::5]:8080/p", "http://[2001:db8::5]:8080/p"),
        ("https://büro.example/portal", "https://xn--bro-hoa.example/portal"),
    ],
)
def test_a_portal_address_of_a_host_an_address_a_port_and_a_path_is_taken(url, checked):
    assert check_portal_url(url) == checked


def read_routeros_string(script: str) -> tuple[str, str]:
    """A RouterOS reader for one double-quoted string at the start of `script`, after
    the escapes of RouterOS's scripting manual; returns the text and what follows."""
    assert script[0] == '"'
    named = {'"': '"', "\\": "\\", "$": "$", "?": "?", "n": "\n", "r": "\r", "t": "\t", "_": " "}
    out, i = bytearray(), 1
    while script[i] != '"':
        character = script[i]
        assert character not in "$?\n\r", f"unescaped {character!r} inside a string"
        if character == "\\":
            following = script[i + 1]
            if following in named:
                out += named[following].encode()
                i += 2
            else:
                hex_digits = script[i + 1 : i + 3]
                assert re.fullmatch("[0-9A-F]{2}", hex_digits), hex_digits
                out.append(int(hex_digits, 16))
                i += 3
        else:
            out += character.encode()
            i += 1
    return out.decode("utf-8"), script[i + 1 :]


@given(st.text())
def test_a_quoted_routeros_string_reads_back_as_exactly_its_text_and_ends_where_it_should(text):
    quoted = routeros_string(text)
    assert "\n" not in quoted and "\r" not in quoted
    assert read_routeros_string(quoted + " next=1") == (text, " next=1")


def test_a_value_that_is_not_plainly_a_word_is_quoted():
    assert routeros_value("portal.rt05.net") == "portal.rt05.net"
    assert routeros_value("fe80::1") == "fe80::1"
    assert routeros_value("x; /system reset-configuration") == ('"x; /system reset-configuration"')
    assert routeros_value("$(x) [y]") == '"\\$(x) \\5By\\5D"'
    assert routeros_value("") == '""'


def test_the_walled_garden_script_holds_only_its_own_commands():
    script = bundle(portal_url="https://portal.rt05.net:8443/p")["walled-garden.rsc"]
    commands = [line for line in script.splitlines() if not line.startswith("#")]
    assert [c.split(" action=")[0] for c in commands] == [
        "/ip hotspot walled-garden add",
        "/ip hotspot walled-garden ip add",
    ]
    assert all(c.endswith('dst-host=portal.rt05.net comment="pulsa portal"') for c in commands)


def test_a_gif_logo_is_taken_and_a_refusal_names_no_folder(tmp_path):
    gif = tmp_path / "logo.gif"
    gif.write_bytes(b"GIF89a fake")
    assert load_logo(gif) == (b"GIF89a fake", "image/gif")
    bmp = tmp_path / "logo.bmp"
    bmp.write_bytes(b"BM")
    with pytest.raises(ValueError) as refused:
        load_logo(bmp)
    assert str(tmp_path) not in str(refused.value)
