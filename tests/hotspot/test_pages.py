"""The hotspot page bundle: RouterOS variables where the router fills them in, the
operator's branding (escaped, `$` included), portal links and walled-garden entries,
and scripts a browser can parse."""

from __future__ import annotations

import re
import subprocess

import pytest

from hotspot.pages import PAGES, Branding, render_bundle, walled_garden_commands
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
    assert f'href="{PORTAL}/help"' in pages["error.html"]
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
