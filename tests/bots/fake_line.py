"""A fake LINE Platform on loopback, standing for LINE (which cannot be reached here).

Two sides of LINE are played:

- **the Messaging API** that pulsa calls through line-bot-sdk's real clients (sync and
  asyncio): ``POST /v2/bot/message/reply``, ``POST /v2/bot/message/push`` (with
  ``X-Line-Retry-Key``: the same key accepted twice is 409 with
  ``x-line-accepted-request-id``, as LINE does), ``GET /v2/bot/message/{id}/content``
  (bytes the test stores with `add_content`; LINE serves it from api-data.line.me, here
  the same address), ``GET /v2/bot/profile/{userId}``, ``GET /v2/bot/info`` (`bot_info`).
  Every request needs ``Authorization: Bearer <access token>`` (else 401). The messages
  are checked against LINE's documented limits (1 to 5 messages, text at most 5,000 UTF-16
  units, at most 13 quick-reply items, action labels at most 20 characters, postback data
  and displayText at most 300, Flex altText at most 400, a push `to` a user id ``U`` + 32
  hex digits) and a request that breaks one gets LINE's 400. A reply token is valid once,
  for a minute, and only when the fake issued it (`reply_token()`, or an event built
  here).
- **the LINE Platform delivering webhooks**: event builders (`text_event`, `image_event`,
  `postback_event`, `follow_event`, `unfollow_event`) shaped like LINE's (webhookEventId a
  ULID-like id, deliveryContext, mode, quoteToken...), `body()` to wrap them, `sign()` the
  X-Line-Signature with the channel secret, and `deliver(url, events)` that POSTs them
  signed, as LINE does.

It records every call (`calls`), the replies and pushes LINE accepted (`replies`,
`pushes`), and breaks on demand: `fail_next(endpoint, status, message, retry_after)`,
`go_down()` / `come_up()` (connection refused, then the same port again).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import re
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

USER_ID = re.compile(r"^U[0-9a-f]{32}$")
REPLY_TOKEN_SECONDS = 60
RETRY_KEY = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def new_user_id() -> str:
    """A LINE user id: U and 32 hexadecimal digits."""
    return "U" + secrets.token_hex(16)


@dataclass
class Call:
    """One request as the fake received it."""

    method: str
    path: str
    endpoint: str  # reply, push, content, profile, bot info, other
    headers: dict[str, str]
    body: Any = None
    status: int = 200
    at: float = 0.0


@dataclass
class _Failure:
    endpoint: str | None
    status: int
    message: str
    retry_after: int | None
    remaining: int


@dataclass
class Delivered:
    """What LINE accepted: a reply (`reply_token`) or a push (`to`, `retry_key`)."""

    messages: list[dict]
    to: str | None = None
    reply_token: str | None = None
    retry_key: str | None = None
    request_id: str = field(default_factory=lambda: secrets.token_hex(8))
    at: float = field(default_factory=time.monotonic)  # when LINE accepted it

    @property
    def texts(self) -> list[str]:
        return [m.get("text", "") for m in self.messages if m.get("type") == "text"]

    def quick_reply_labels(self) -> list[str]:
        """The labels of the quick-reply buttons of the last message (the ones shown)."""
        items = (self.messages[-1].get("quickReply") or {}).get("items", [])
        return [item["action"].get("label") for item in items]

    def quick_reply_data(self) -> list[str]:
        items = (self.messages[-1].get("quickReply") or {}).get("items", [])
        return [item["action"].get("data") for item in items]


class FakeLine:
    """See the module's docstring."""

    def __init__(
        self,
        channel_secret: str = "fake-line-channel-secret-0123456789",
        access_token: str = "fake-line-channel-access-token",
        *,
        host: str = "127.0.0.1",
    ) -> None:
        self.channel_secret = channel_secret
        self.access_token = access_token
        self.host = host
        self.port = 0
        self.calls: list[Call] = []
        self.replies: list[Delivered] = []
        self.pushes: list[Delivered] = []
        self.profiles: dict[str, dict] = {}
        self.bot_info = {
            "userId": "U" + "b07" * 10 + "42",
            "basicId": "@123pulsa",
            "displayName": "Pulsa RT05",
            "chatMode": "bot",
            "markAsReadMode": "auto",
        }
        self._contents: dict[str, tuple[bytes, str]] = {}
        self._reply_tokens: dict[str, float] = {}  # token -> expiry (monotonic)
        self._token_users: dict[str, str] = {}  # reply token -> the user of its event
        self._retry_keys: dict[str, str] = {}  # retry key -> accepted request id
        self._failures: list[_Failure] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # -- running ----------------------------------------------------------------------

    def __enter__(self) -> FakeLine:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        for attempt in range(50):
            try:
                server = _Server((self.host, self.port), _Handler)
                break
            except OSError:
                if attempt == 49:  # the same port right after go_down(): wait for the OS
                    raise
                time.sleep(0.02)
        server.line = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, daemon=True, kwargs={"poll_interval": 0.05}
        )
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def go_down(self) -> None:
        """Close the port and the open connections: clients get "connection refused"."""
        self.stop()

    def come_up(self) -> None:
        if self._server is None:
            self.start()

    @property
    def api_url(self) -> str:
        """The Messaging API's base address, as PULSA_LINE_API_URL names it."""
        return f"http://{self.host}:{self.port}"

    def environment(self) -> dict[str, str]:
        """The settings that point pulsa's LINE bot at this fake."""
        return {
            "PULSA_LINE_CHANNEL_SECRET": self.channel_secret,
            "PULSA_LINE_ACCESS_TOKEN": self.access_token,
            "PULSA_LINE_API_URL": self.api_url,
        }

    # -- what the test feeds and injects ----------------------------------------------

    def fail_next(
        self,
        endpoint: str | None = "push",
        status: int = 429,
        message: str | None = None,
        *,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` calls of `endpoint` (reply, push, content, profile; any when
        None) get `status` with LINE's JSON error body."""
        if message is None:
            message = {
                429: "The API rate limit has been exceeded. Try again later.",
                400: "The request body has 1 error(s)",
                401: "Authentication failed. Confirm that the access token in the "
                "authorization header is valid.",
                403: "Access to this API is not available for your account",
                404: "Not found",
                500: "Internal server error",
            }.get(status, "Error")
        with self._lock:
            self._failures.append(_Failure(endpoint, status, message, retry_after, times))

    def add_content(self, message_id: str, data: bytes, content_type: str = "image/jpeg") -> None:
        with self._lock:
            self._contents[str(message_id)] = (data, content_type)

    def add_profile(self, user_id: str, display_name: str, language: str | None = None) -> None:
        profile = {"userId": user_id, "displayName": display_name}
        if language:
            profile["language"] = language
        with self._lock:
            self.profiles[user_id] = profile

    def reply_token(self) -> str:
        """A reply token as LINE puts in an event: valid once, for a minute."""
        token = secrets.token_hex(16)
        with self._lock:
            self._reply_tokens[token] = time.monotonic() + REPLY_TOKEN_SECONDS
        return token

    def expire_reply_tokens(self) -> None:
        with self._lock:
            self._reply_tokens.clear()

    # -- what LINE received ------------------------------------------------------------

    def delivered(self, user_id: str | None = None) -> list[Delivered]:
        """Replies and pushes LINE accepted, in order (to `user_id`: pushes to it and the
        replies to its events, as the test's reply tokens say)."""
        with self._lock:
            both = sorted(
                [*self.replies, *self.pushes], key=lambda d: int(d.request_id.split("-")[0])
            )
            tokens = dict(self._token_users)
        if user_id is None:
            return both
        return [d for d in both if d.to == user_id or tokens.get(d.reply_token) == user_id]

    def texts(self, user_id: str | None = None) -> list[str]:
        return [text for d in self.delivered(user_id) for text in d.texts]

    def wait_for(self, count: int, user_id: str | None = None, timeout: float = 10.0) -> list:
        """Wait until `count` replies and pushes arrived (to `user_id`); returns them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.delivered(user_id)
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise AssertionError(f"expected {count} LINE deliveries, got {self.delivered(user_id)}")

    def wait_for_reply(self, reply_token: str, timeout: float = 10.0) -> Delivered:
        """The reply made with `reply_token`, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for delivered in reversed(self.replies):
                    if delivered.reply_token == reply_token:
                        return delivered
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no reply with the token {reply_token}")
                self._arrived.wait(left)

    # -- the platform's side: webhook events -------------------------------------------

    def _event(self, kind: str, user_id: str, *, reply: bool = True, **extra) -> dict:
        event: dict[str, Any] = {
            "type": kind,
            "mode": "active",
            "timestamp": int(time.time() * 1000),
            "source": {"type": "user", "userId": user_id},
            "webhookEventId": _ulid(),
            "deliveryContext": {"isRedelivery": False},
        }
        if reply:
            token = self.reply_token()
            with self._lock:
                self._token_users[token] = user_id
            event["replyToken"] = token
        event.update(extra)
        return event

    def text_event(self, user_id: str, text: str) -> dict:
        return self._event(
            "message",
            user_id,
            message={
                "type": "text",
                "id": str(next(self._ids) + 10**17),
                "text": text,
                "quoteToken": secrets.token_urlsafe(24),
            },
        )

    def image_event(self, user_id: str, data: bytes) -> dict:
        message_id = str(next(self._ids) + 10**17)
        self.add_content(message_id, data)
        return self._event(
            "message",
            user_id,
            message={
                "type": "image",
                "id": message_id,
                "quoteToken": secrets.token_urlsafe(24),
                "contentProvider": {"type": "line"},
            },
        )

    def sticker_event(self, user_id: str) -> dict:
        return self._event(
            "message",
            user_id,
            message={
                "type": "sticker",
                "id": str(next(self._ids) + 10**17),
                "quoteToken": secrets.token_urlsafe(24),
                "packageId": "446",
                "stickerId": "1988",
                "stickerResourceType": "STATIC",
            },
        )

    def postback_event(self, user_id: str, data: str) -> dict:
        return self._event("postback", user_id, postback={"data": data})

    def follow_event(self, user_id: str) -> dict:
        return self._event("follow", user_id, follow={"isUnblocked": False})

    def unfollow_event(self, user_id: str) -> dict:
        return self._event("unfollow", user_id, reply=False)

    @staticmethod
    def redelivered(event: dict) -> dict:
        """The same event as LINE delivers it again (same webhookEventId)."""
        again = json.loads(json.dumps(event))
        again["deliveryContext"] = {"isRedelivery": True}
        return again

    @staticmethod
    def body(events: list[dict], destination: str = "U" + "0" * 32) -> bytes:
        return json.dumps({"destination": destination, "events": events}).encode("utf-8")

    def sign(self, body: bytes, secret: str | None = None) -> str:
        """X-Line-Signature: base64 of the HMAC-SHA256 of the body, keyed with the secret."""
        key = (secret or self.channel_secret).encode("utf-8")
        return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode("ascii")

    def deliver(
        self,
        url: str,
        events: list[dict] | None = None,
        *,
        body: bytes | None = None,
        signature: str | None = "sign",
        timeout: float = 10.0,
    ) -> tuple[int, bytes, float]:
        """POST a webhook to `url` as LINE does; `signature="sign"` signs it with the
        channel secret, None sends none. Returns the status, the body and the seconds the
        answer took."""
        data = body if body is not None else self.body(events or [])
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "LineBotWebhook/2.0",
        }
        if signature == "sign":
            signature = self.sign(data)
        if signature is not None:
            headers["X-Line-Signature"] = signature
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read(), time.monotonic() - started
        except urllib.error.HTTPError as error:
            return error.code, error.read(), time.monotonic() - started

    # -- serving ------------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> tuple[int, dict[str, str], bytes]:
        method, path = handler.command, handler.path.split("?", 1)[0]
        endpoint = _endpoint(method, path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        call = Call(method, path, endpoint, headers, body, at=time.monotonic())
        with self._lock:
            self.calls.append(call)
        status, extra, payload = self._answer(call)
        call.status = status
        return status, extra, payload

    def _answer(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        if call.headers.get("authorization") != f"Bearer {self.access_token}":
            return _error(
                401,
                "Authentication failed. Confirm that the access token in the "
                "authorization header is valid.",
            )
        failure = self._take_failure(call.endpoint)
        if failure is not None:
            extra = {"Retry-After": str(failure.retry_after)} if failure.retry_after else {}
            return _error(failure.status, failure.message, extra)
        if call.endpoint == "reply":
            return self._reply(call)
        if call.endpoint == "push":
            return self._push(call)
        if call.endpoint == "content":
            message_id = call.path.split("/")[4]
            with self._lock:
                found = self._contents.get(message_id)
            if found is None:
                return _error(404, "Not found")
            return 200, {"Content-Type": found[1]}, found[0]
        if call.endpoint == "bot info":
            return _json(200, self.bot_info)
        if call.endpoint == "profile":
            with self._lock:
                profile = self.profiles.get(call.path.rsplit("/", 1)[-1])
            if profile is None:
                return _error(404, "Not found")
            return _json(200, profile)
        return _error(404, "Not found")

    def _take_failure(self, endpoint: str) -> _Failure | None:
        with self._lock:
            for failure in self._failures:
                if failure.endpoint in (None, endpoint) and failure.remaining > 0:
                    failure.remaining -= 1
                    if failure.remaining == 0:
                        self._failures.remove(failure)
                    return failure
        return None

    def _reply(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        body = call.body if isinstance(call.body, dict) else {}
        problems = _message_problems(body.get("messages"))
        if problems:
            return _error(400, f"The request body has {len(problems)} error(s)", details=problems)
        token = body.get("replyToken")
        with self._lock:
            expiry = self._reply_tokens.pop(token, None) if isinstance(token, str) else None
            if expiry is None or expiry < time.monotonic():
                return _error(400, "Invalid reply token")
            delivered = Delivered(body["messages"], reply_token=token, request_id=self._next_id())
            self.replies.append(delivered)
            self._arrived.notify_all()
        return _json(200, {"sentMessages": _sent(body["messages"])}, delivered.request_id)

    def _push(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        body = call.body if isinstance(call.body, dict) else {}
        problems = _message_problems(body.get("messages"))
        to = body.get("to")
        if not isinstance(to, str) or not USER_ID.match(to):
            problems.append(
                {
                    "message": "The property, 'to', in the request body is invalid "
                    "(line: -, column: -)",
                    "property": "to",
                }
            )
        if problems:
            return _error(400, f"The request body has {len(problems)} error(s)", details=problems)
        key = call.headers.get("x-line-retry-key")
        if key is not None and not RETRY_KEY.match(key):
            return _error(400, "The value of the X-Line-Retry-Key header is invalid")
        with self._lock:
            if key is not None and key in self._retry_keys:
                accepted = self._retry_keys[key]
                return _error(
                    409,
                    "The retry key is already accepted",
                    {"x-line-accepted-request-id": accepted},
                )
            delivered = Delivered(
                body["messages"], to=to, retry_key=key, request_id=self._next_id()
            )
            self.pushes.append(delivered)
            if key is not None:
                self._retry_keys[key] = delivered.request_id
            self._arrived.notify_all()
        return _json(200, {"sentMessages": _sent(body["messages"])}, delivered.request_id)

    def _next_id(self) -> str:
        return f"{next(self._ids)}-{secrets.token_hex(4)}"


def _endpoint(method: str, path: str) -> str:
    if method == "POST" and path == "/v2/bot/message/reply":
        return "reply"
    if method == "POST" and path == "/v2/bot/message/push":
        return "push"
    if method == "GET" and re.fullmatch(r"/v2/bot/message/[^/]+/content", path):
        return "content"
    if method == "GET" and path == "/v2/bot/info":
        return "bot info"
    if method == "GET" and re.fullmatch(r"/v2/bot/profile/[^/]+", path):
        return "profile"
    return "other"


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _message_problems(messages: Any) -> list[dict]:
    """What LINE would refuse in `messages` (its documented limits)."""
    if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
        return [{"message": "Size must be between 1 and 5", "property": "messages"}]
    problems = []
    for number, message in enumerate(messages):
        where = f"messages[{number}]"
        kind = message.get("type")
        if kind == "text":
            text = message.get("text")
            if not isinstance(text, str) or not text:
                problems.append({"message": "Must not be empty", "property": f"{where}.text"})
            elif _units(text) > 5000:
                problems.append(
                    {"message": "Length must be between 0 and 5000", "property": f"{where}.text"}
                )
        elif kind == "flex":
            alt = message.get("altText")
            if not isinstance(alt, str) or not alt or len(alt) > 400:
                problems.append(
                    {"message": "Length must be between 1 and 400", "property": f"{where}.altText"}
                )
            for action in _flex_actions(message.get("contents")):
                problems.extend(_action_problems(action, f"{where}.contents"))
        else:
            problems.append({"message": "unknown or unsupported type", "property": f"{where}.type"})
        items = (message.get("quickReply") or {}).get("items")
        if items is not None:
            if len(items) > 13:
                problems.append(
                    {
                        "message": "Size must be between 0 and 13",
                        "property": f"{where}.quickReply.items",
                    }
                )
            for index, item in enumerate(items):
                problems.extend(
                    _action_problems(item.get("action") or {}, f"{where}.quickReply.items[{index}]")
                )
    return problems


def _action_problems(action: dict, where: str) -> list[dict]:
    problems = []
    label = action.get("label")
    if action.get("type") != "postback":
        problems.append({"message": "unexpected action type", "property": f"{where}.action.type"})
    if not isinstance(label, str) or not label or len(label) > 20:
        problems.append(
            {"message": "Length must be between 1 and 20", "property": f"{where}.action.label"}
        )
    data = action.get("data")
    if not isinstance(data, str) or len(data) > 300:
        problems.append(
            {"message": "Length must be between 0 and 300", "property": f"{where}.action.data"}
        )
    shown = action.get("displayText")
    if shown is not None and (not isinstance(shown, str) or len(shown) > 300):
        problems.append(
            {
                "message": "Length must be between 1 and 300",
                "property": f"{where}.action.displayText",
            }
        )
    return problems


def _flex_actions(node: Any):
    if isinstance(node, dict):
        if node.get("type") == "button" and isinstance(node.get("action"), dict):
            yield node["action"]
        for value in node.values():
            yield from _flex_actions(value)
    elif isinstance(node, list):
        for value in node:
            yield from _flex_actions(value)


def _sent(messages: list[dict]) -> list[dict]:
    return [
        {"id": str(10**17 + n), "quoteToken": secrets.token_urlsafe(16)}
        for n, _ in enumerate(messages)
    ]


def _json(status: int, payload: Any, request_id: str | None = None) -> tuple[int, dict, bytes]:
    headers = {"Content-Type": "application/json"}
    headers["x-line-request-id"] = request_id or secrets.token_hex(8)
    return status, headers, json.dumps(payload).encode("utf-8")


def _error(
    status: int, message: str, extra: dict | None = None, details: list | None = None
) -> tuple[int, dict, bytes]:
    payload: dict[str, Any] = {"message": message}
    if details:
        payload["details"] = details
    code, headers, body = _json(status, payload)
    headers.update(extra or {})
    return code, headers, body


_ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ulid() -> str:
    """A webhookEventId: 26 characters of Crockford's base32, time first (a ULID)."""
    number = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "".join(_ULID_ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(26)))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    line: FakeLine


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.line._lock:
            self.server.line._connections.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.line._lock:
            self.server.line._connections.discard(self.connection)

    def _any(self) -> None:
        status, headers, payload = self.server.line._serve(self)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _any

    def log_message(self, format: str, *args: Any) -> None:
        pass
