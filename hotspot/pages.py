"""The HTML bundle an operator uploads to a router's ``hotspot/`` folder.

RouterOS serves these pages itself and fills in ``$(name)`` variables before sending
them (``$(link-login-only)``, ``$(username)``, ``$(error)``, ``$(if chap-id)`` ...).
The pages are branded with the operator's name and logo (inlined, so nothing has to
be reachable before login), link to the pulsa portal for registering and help, and
the login page finishes a QR-code login on its own: a voucher's QR opens
``/login?username=..&password=..``; if the router answers with the form instead of
logging in (it only takes a plain password by GET when HTTP PAP is allowed), the page
reads the two values from its address and logs in with CHAP.

CHAP hashing uses ``hexMD5`` from the router's stock ``md5.js``, which every hotspot
folder RouterOS creates already has: keep it when uploading this bundle.
"""

from __future__ import annotations

import base64
import html
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

PAGES = ("login.html", "status.html", "logout.html", "alogin.html", "error.html")
_LOGO_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class Branding:
    brand: str
    portal_url: str = ""
    logo: bytes | None = None
    logo_type: str = "image/png"
    color: str = "#0b6e4f"


def load_logo(path: Path) -> tuple[bytes, str]:
    """The logo's bytes and type. The messages of its refusals leave the path out: the
    web admin shows them, and a server's folders are nobody's business there."""
    kind = _LOGO_TYPES.get(path.suffix.lower())
    if kind is None:
        raise ValueError("a logo is a .png, .jpg, .gif or .svg file")
    data = path.read_bytes()
    if len(data) > 200_000:
        # Routers have little flash and every login page load carries the logo.
        raise ValueError("a logo should be under 200 kB")
    return data, kind


def _text(value: str) -> str:
    """Escape for HTML, and ``$`` too: RouterOS would read ``$(`` in a brand name as a
    variable of its own."""
    return html.escape(value, quote=True).replace("$", "&#36;")


def _portal(branding: Branding, path: str) -> str:
    """A link to the portal; only ever to an address `check_portal_url` accepts (never
    a ``javascript:`` one), escaped for HTML and RouterOS."""
    return _text(check_portal_url(branding.portal_url) + path) if branding.portal_url else ""


def _head(branding: Branding, title: str, extra: str = "") -> str:
    color = branding.color if _is_color(branding.color) else "#0b6e4f"
    return f"""<!doctype html>
<html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="pragma" content="no-cache"><meta http-equiv="expires" content="-1">
<title>{_text(branding.brand)}: {title}</title>{extra}
<style>
body{{font-family:system-ui,Arial,sans-serif;margin:0;background:#f4f6f5;color:#1d2521}}
main{{max-width:24rem;margin:2rem auto;background:#fff;padding:1.5rem;border-radius:.6rem;
box-shadow:0 1px 4px rgba(0,0,0,.12)}}
header{{text-align:center;margin-bottom:1rem}} header img{{max-height:4rem;max-width:100%}}
h1{{font-size:1.3rem;margin:.4rem 0;color:{color}}}
label{{display:block;margin:.6rem 0 .2rem;font-size:.9rem}}
input{{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem;border:1px solid #aab;
border-radius:.3rem}}
button,.button{{display:block;width:100%;margin-top:1rem;padding:.7rem;font-size:1rem;border:0;
border-radius:.3rem;background:{color};color:#fff;text-align:center;text-decoration:none}}
.error{{background:#fde8e8;color:#8a1111;padding:.6rem;border-radius:.3rem}}
.links{{margin-top:1.2rem;font-size:.9rem;text-align:center}} .links a{{color:{color}}}
table{{width:100%;border-collapse:collapse}} td{{padding:.3rem 0}} td+td{{text-align:right}}
.hint{{font-size:.85rem;color:#555}}
</style></head>
<body><main>
{_header(branding)}"""


def _header(branding: Branding) -> str:
    logo = ""
    if branding.logo:
        data = base64.b64encode(branding.logo).decode("ascii")
        logo = f'<img src="data:{branding.logo_type};base64,{data}" alt="">'
    return f"<header>{logo}<h1>{_text(branding.brand)}</h1></header>"


def _is_color(value: str) -> bool:
    return (
        value.startswith("#")
        and len(value) in (4, 7)
        and all(c in "0123456789abcdefABCDEF" for c in value[1:])
    )


def _portal_links(branding: Branding) -> str:
    if not branding.portal_url:
        return ""
    return (
        '<p class="links">'
        f'<a href="{_portal(branding, "/register")}?mac=$(mac-esc)">Register or buy a package</a>'
        f' &middot; <a href="{_portal(branding, "/register/help")}">Help</a></p>'
    )


_FOOT = "\n</main></body></html>\n"


def login_page(branding: Branding) -> str:
    return (
        _head(branding, "log in")
        + """
$(if error)<p class="error">$(error)</p>$(endif)
<form name="login" action="$(link-login-only)" method="post" onsubmit="return pulsaLogin()">
<input type="hidden" name="dst" value="$(link-orig)">
<input type="hidden" name="popup" value="true">
<label for="u">Username or voucher code</label>
<input id="u" name="username" value="$(username)" autocapitalize="off" autocorrect="off"
 autocomplete="username" required>
<label for="p">Password <span class="hint">(empty for a voucher with one code)</span></label>
<input id="p" name="password" type="password" autocomplete="current-password">
<button type="submit">Connect</button>
</form>
<p class="hint">A voucher with a QR code: scan it with the phone's camera to connect.</p>
"""
        + _portal_links(branding)
        + """
<form name="sendin" action="$(link-login-only)" method="post" style="display:none">
<input type="hidden" name="username"><input type="hidden" name="password">
<input type="hidden" name="dst" value="$(link-orig)"><input type="hidden" name="popup" value="true">
</form>
<script src="/md5.js"></script>
<script>
function pulsaLogin() {
  var form = document.login;
  // A voucher printed with a single code uses it as the password too.
  var password = form.password.value || form.username.value;
  var chapId = '$(chap-id)';
  if (!chapId || typeof hexMD5 !== 'function') {
    form.password.value = password;
    return true;
  }
  document.sendin.username.value = form.username.value;
  document.sendin.password.value = hexMD5(chapId + password + '$(chap-challenge)');
  document.sendin.submit();
  return false;
}
(function () {
  // A QR login that the router showed as the form: finish it here, once.
  var query = window.location.search.substring(1).split('&');
  var values = {};
  for (var i = 0; i < query.length; i++) {
    var pair = query[i].split('=');
    if (pair.length === 2) {
      values[pair[0]] = decodeURIComponent(pair[1].replace(/\\+/g, ' '));
    }
  }
  if (values.username && values.password) {
    document.login.username.value = values.username;
    document.login.password.value = values.password;
    if (pulsaLogin()) { document.login.submit(); }
  } else {
    document.login.username.focus();
  }
})();
</script>"""
        + _FOOT
    )


def status_page(branding: Branding) -> str:
    refresh = (
        '\n$(if refresh-timeout)<meta http-equiv="refresh" '
        'content="$(refresh-timeout-secs)">$(endif)'
    )
    return (
        _head(branding, "connected", refresh)
        + """
<p>Connected as <b>$(username)</b></p>
<table>
<tr><td>IP address</td><td>$(ip)</td></tr>
<tr><td>Online for</td><td>$(uptime)</td></tr>
$(if session-time-left)<tr><td>Time left</td><td>$(session-time-left)</td></tr>$(endif)
$(if remain-bytes-total)<tr><td>Data left</td><td>$(remain-bytes-total)</td></tr>$(endif)
<tr><td>Downloaded / uploaded</td><td>$(bytes-out-nice) / $(bytes-in-nice)</td></tr>
</table>
<form action="$(link-logout)" name="logout" method="post">
<button type="submit">Log out</button>
</form>
"""
        + (
            f'<p class="links"><a href="{_portal(branding, "/")}">My account: balance and '
            f'packages</a> &middot; <a href="{_portal(branding, "/register/help")}">Help</a></p>'
            if branding.portal_url
            else ""
        )
        + _FOOT
    )


def logout_page(branding: Branding) -> str:
    return (
        _head(branding, "logged out")
        + """
<p><b>$(username)</b> has logged out.</p>
<table>
<tr><td>Online for</td><td>$(uptime)</td></tr>
<tr><td>Downloaded / uploaded</td><td>$(bytes-out-nice) / $(bytes-in-nice)</td></tr>
</table>
<a class="button" href="$(link-login)">Log in again</a>
"""
        + _portal_links(branding)
        + _FOOT
    )


def alogin_page(branding: Branding) -> str:
    redirect = '\n<meta http-equiv="refresh" content="2; url=$(link-redirect)">'
    return (
        _head(branding, "connected", redirect)
        + """
<p>You are connected. Going on to <a href="$(link-redirect)">your page</a> ...</p>
<a class="button" href="$(link-status)">Connection status</a>
"""
        + _FOOT
    )


def error_page(branding: Branding) -> str:
    return (
        _head(branding, "error")
        + """
<p class="error">$(error)</p>
<a class="button" href="$(link-login-only)">Back to the login page</a>
"""
        + _portal_links(branding)
        + _FOOT
    )


# What a bare RouterOS value may hold; anything else is written as a quoted string.
_BARE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:/")
# Inside a quoted string: these are written as they are; every other byte as \XX.
_QUOTED_AS_IS = _BARE | frozenset(" ,;=+%#@!*'()&~")
_NAMED_ESCAPES = {'"': '\\"', "\\": "\\\\", "$": "\\$", "?": "\\?"}


def routeros_string(text: str) -> str:
    """`text` as a double-quoted RouterOS string that the script reads back as exactly
    `text`: ``\\``, ``\\"``, ``\\$`` (else a variable) and ``\\?`` (else the console's
    help) by name, control and non-ASCII characters byte by byte as ``\\XX`` (RouterOS
    wants two capital hex digits), so no value can end the string or the command."""
    out = []
    for character in text:
        if character in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[character])
        elif character in _QUOTED_AS_IS:
            out.append(character)
        else:
            out.extend(f"\\{byte:02X}" for byte in character.encode("utf-8"))
    return '"' + "".join(out) + '"'


def routeros_value(text: str) -> str:
    """A parameter's value: bare when it is plainly a word (a host name, an address),
    otherwise quoted with `routeros_string`."""
    if text and all(c in _BARE for c in text):
        return text
    return routeros_string(text)


_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_PATH = re.compile(r"^(/[A-Za-z0-9\-._~%!&'()*+,;=:@]*)*$")


class PortalUrlError(ValueError):
    """The portal address is not an http(s) address of a host; the message says why."""


def check_portal_url(url: str) -> str:
    """The portal's address, checked: http:// or https://, a host name or IP address,
    an optional port and path, nothing else (no user, query or fragment, no spaces), so
    that it can go into a link of the login page and a RouterOS script. Returns it
    with the host in lower case (an international name as its xn-- form) and without a
    trailing slash; raises PortalUrlError otherwise."""
    if any(c.isspace() or not c.isprintable() for c in url):
        raise PortalUrlError("an address has no spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not url.lower().startswith(
        parts.scheme.lower() + "://"
    ):
        raise PortalUrlError("an address starts with http:// or https://")
    if "@" in parts.netloc:
        raise PortalUrlError("an address carries no user name or password")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise PortalUrlError("an address has no ?query or #fragment")
    host = _checked_host(parts.hostname or "")
    try:
        port = parts.port
    except ValueError:
        raise PortalUrlError("not a port number") from None
    if port == 0:
        raise PortalUrlError("not a port number")
    if not _PATH.match(parts.path):
        raise PortalUrlError("the path holds characters an address cannot have")
    shown_host = f"[{host}]" if ":" in host else host
    netloc = shown_host if port is None else f"{shown_host}:{port}"
    return f"{parts.scheme.lower()}://{netloc}{parts.path}".rstrip("/")


def _checked_host(host: str) -> str:
    if not host:
        raise PortalUrlError("an address needs a host name or IP address")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise PortalUrlError("not a host name") from None
    labels = ascii_host.rstrip(".").split(".")
    if len(ascii_host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise PortalUrlError("not a host name")
    if labels[-1].isdigit():
        raise PortalUrlError("not an IP address")
    return ascii_host.rstrip(".")


def walled_garden_commands(portal_url: str) -> list[str]:
    """RouterOS commands that let people reach the portal before they log in: the HTTP
    walled garden for http://, the IP walled garden for https:// (the hotspot cannot
    look into TLS, so it must let the whole connection through). Raises PortalUrlError
    for an address `check_portal_url` refuses; every value is quoted all the same."""
    if not portal_url:
        return []
    host = urlsplit(check_portal_url(portal_url)).hostname or ""
    comment = f"comment={routeros_value('pulsa portal')}"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        is_ip = False
    else:
        is_ip = True
    if is_ip:
        return [
            "/ip hotspot walled-garden ip add action=accept "
            f"dst-address={routeros_value(host)} {comment}"
        ]
    return [
        f"/ip hotspot walled-garden add action=allow dst-host={routeros_value(host)} {comment}",
        f"/ip hotspot walled-garden ip add action=accept dst-host={routeros_value(host)} {comment}",
    ]


def render_bundle(branding: Branding) -> dict[str, str]:
    """File name -> content of every file to upload (pages, walled garden script)."""
    bundle = {
        "login.html": login_page(branding),
        "status.html": status_page(branding),
        "logout.html": logout_page(branding),
        "alogin.html": alogin_page(branding),
        "error.html": error_page(branding),
    }
    commands = walled_garden_commands(branding.portal_url)
    if commands:
        bundle["walled-garden.rsc"] = (
            "# Let people reach the pulsa portal before they log in.\n"
            "# In a RouterOS terminal: /import walled-garden.rsc\n" + "\n".join(commands) + "\n"
        )
    return bundle


def write_bundle(folder: Path, branding: Branding) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in render_bundle(branding).items():
        path = folder / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
