"""A fake Telegram Bot API on loopback, standing for Telegram (which cannot be reached here).

The bots are tested with the real python-telegram-bot client, so what sits on the other
side of the socket has to answer like the Bot API: methods at ``<base>/bot<token>/<method>``
(POSTed as form fields, multipart when a file is uploaded, or as JSON), replies
``{"ok": true, "result": ...}`` and errors ``{"ok": false, "error_code": ...,
"description": ..., "parameters": {"retry_after": ...}}`` with the matching HTTP status,
files downloaded from ``<base>/file/bot<token>/<file_path>``.

It knows getMe, getUpdates (long polling, fed by the test), sendMessage, sendPhoto,
sendDocument, sendChatAction, getFile and the download, answerCallbackQuery,
editMessageText, editMessageReplyMarkup, deleteMessage, setMyCommands, setWebhook,
deleteWebhook and getWebhookInfo. It records every call (`calls`) and keeps apart what
Telegram accepted (`accepted`: the messages a user would see), and it breaks on demand:

- `fail_next(method, error_code=429, retry_after=3)`: the next call(s) get that error;
- `block(chat_id)`: sends to that chat get 403 "Forbidden: bot was blocked by the user";
- `go_down()` / `come_up()`: the port is closed (connection refused) and reopened;
- `flood_control=True`: more than one message a second to a chat, or more than
  `overall_per_second` in a second, gets 429 with retry_after, as Telegram does;
- `latency`: seconds each call takes (a distant server).

Usage::

    with FakeBotApi() as api:
        bot = telegram.Bot(api.token, base_url=api.base_url, base_file_url=api.base_file_url)
        api.push_text(chat_id=42, text="/start")  # an update for getUpdates

Plain threads: one per connection (HTTP/1.1 keep-alive), so tests need no event loop.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import itertools
import json
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

BOT_USER = {
    "id": 7000000001,
    "is_bot": True,
    "first_name": "Pulsa",
    "username": "pulsa_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
    "can_connect_to_business": False,
    "has_main_web_app": False,
}

SEND_METHODS = ("sendmessage", "sendphoto", "senddocument")
BLOCKED = "Forbidden: bot was blocked by the user"
# Fields that the client sends as JSON text inside a form field.
JSON_FIELDS = (
    "reply_markup",
    "entities",
    "caption_entities",
    "allowed_updates",
    "link_preview_options",
)


@dataclass
class Call:
    """One request as the fake received it. `params` are decoded (chat ids and numbers as
    ints, reply_markup as a dict); `files` hold uploaded bytes by field name."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    at: float = 0.0
    status: int = 200
    result: Any = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")

    @property
    def text(self) -> str | None:
        return self.params.get("text", self.params.get("caption"))


@dataclass
class _Failure:
    method: str | None
    error_code: int
    description: str
    retry_after: int | None
    chat_id: Any
    remaining: int


class FakeBotApi:
    """See the module's docstring."""

    def __init__(
        self,
        token: str = "7000000001:TEST-token_for-the-fake-bot-api",
        *,
        host: str = "127.0.0.1",
        flood_control: bool = False,
        overall_per_second: int = 30,
        latency: float = 0.0,
    ) -> None:
        self.token = token
        self.host = host
        self.port = 0
        self.flood_control = flood_control
        self.overall_per_second = overall_per_second
        self.latency = latency
        self.calls: list[Call] = []
        self.webhook_url = ""
        self._lock = threading.Lock()
        self._updates_ready = threading.Condition(self._lock)
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, bytes)
        self._failures: list[_Failure] = []
        self._blocked: set[Any] = set()
        self._recent_by_chat: dict[Any, deque] = defaultdict(deque)
        self._recent_overall: deque = deque()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # -- running -----------------------------------------------------------------------

    def __enter__(self) -> FakeBotApi:
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
                # Reopening the same port right after go_down(): wait for the OS.
                if attempt == 49:
                    raise
                time.sleep(0.02)
        server.api = self
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
            self._updates_ready.notify_all()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def go_down(self) -> None:
        """Close the port and every open connection: clients get "connection refused"."""
        self.stop()

    def come_up(self) -> None:
        """Listen again on the same port."""
        if self._server is None:
            self.start()

    @property
    def is_up(self) -> bool:
        return self._server is not None

    @property
    def api_url(self) -> str:
        """The Bot API's base address, as PULSA_TELEGRAM_API_URL names it."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What python-telegram-bot's Bot(base_url=...) takes (it appends the token)."""
        return f"{self.api_url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.api_url}/file/bot"

    # -- what the test feeds and injects ----------------------------------------------

    def fail_next(
        self,
        method: str | None = "sendMessage",
        *,
        error_code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        chat_id: Any = None,
        times: int = 1,
    ) -> None:
        """The next `times` calls of `method` (any method when None; to `chat_id` when
        given) get this error. 429 gets `parameters.retry_after` (default 3 s)."""
        if error_code == 429 and retry_after is None:
            retry_after = 3
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after}",
                403: BLOCKED,
                400: "Bad Request: chat not found",
                401: "Unauthorized",
                500: "Internal Server Error",
                502: "Bad Gateway",
            }.get(error_code, "Error")
        with self._lock:
            self._failures.append(
                _Failure(
                    method.lower() if method else None,
                    error_code,
                    description,
                    retry_after,
                    _chat(chat_id),
                    times,
                )
            )

    def block(self, chat_id: Any) -> None:
        """The user of `chat_id` blocked the bot: every send to it gets 403."""
        with self._lock:
            self._blocked.add(_chat(chat_id))

    def unblock(self, chat_id: Any) -> None:
        with self._lock:
            self._blocked.discard(_chat(chat_id))

    def add_file(self, data: bytes, file_path: str | None = None) -> str:
        """Store a file the bot can getFile and download; returns its file_id."""
        with self._lock:
            number = next(self._file_ids)
            file_id = f"FILE{number:06d}"
            self._files[file_id] = (file_path or f"photos/file_{number}.jpg", data)
            return file_id

    def push_update(self, update: dict) -> dict:
        """Queue an update for getUpdates; `update_id` is given when missing."""
        with self._lock:
            update = dict(update)
            if "update_id" not in update:
                update["update_id"] = next(self._update_ids)
            self._updates.append(update)
            self._updates_ready.notify_all()
            return update

    def push_text(
        self,
        chat_id: int,
        text: str,
        *,
        first_name: str = "Budi",
        language_code: str | None = "id",
        update_id: int | None = None,
    ) -> dict:
        message = self._user_message(chat_id, first_name, language_code)
        message["text"] = text
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self.push_update(_with_id({"message": message}, update_id))

    def push_contact(
        self,
        chat_id: int,
        phone_number: str,
        *,
        first_name: str = "Budi",
        user_id: int | None = None,
        language_code: str | None = "id",
        update_id: int | None = None,
    ) -> dict:
        message = self._user_message(chat_id, first_name, language_code)
        message["contact"] = {
            "phone_number": phone_number,
            "first_name": first_name,
            "user_id": chat_id if user_id is None else user_id,
        }
        return self.push_update(_with_id({"message": message}, update_id))

    def push_photo(
        self,
        chat_id: int,
        data: bytes,
        *,
        caption: str | None = None,
        first_name: str = "Budi",
        language_code: str | None = "id",
        update_id: int | None = None,
    ) -> dict:
        file_id = self.add_file(data)
        message = self._user_message(chat_id, first_name, language_code)
        message["photo"] = [
            {
                "file_id": file_id,
                "file_unique_id": f"U{file_id}",
                "width": 90,
                "height": 90,
                "file_size": len(data),
            },
        ]
        if caption is not None:
            message["caption"] = caption
        return self.push_update(_with_id({"message": message}, update_id))

    def push_callback(
        self,
        chat_id: int,
        data: str,
        *,
        message_id: int | None = None,
        first_name: str = "Budi",
        language_code: str | None = "id",
        update_id: int | None = None,
    ) -> dict:
        """A press on an inline button of the bot's message `message_id` (the last one sent
        to the chat when None)."""
        if message_id is None:
            sent = [
                c for c in self.accepted() if c.chat_id == chat_id and isinstance(c.result, dict)
            ]
            message_id = sent[-1].result["message_id"] if sent else 1
        user = _user(chat_id, first_name, language_code)
        query = {
            "id": f"cb{next(self._message_ids)}",
            "from": user,
            "chat_instance": f"ci{chat_id}",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": _private_chat(chat_id, first_name),
                "from": BOT_USER,
                "text": "...",
            },
        }
        return self.push_update(_with_id({"callback_query": query}, update_id))

    # -- what the test reads ---------------------------------------------------------

    def accepted(self, method: str | None = None, chat_id: Any = None) -> list[Call]:
        """The calls Telegram accepted, in order (of `method` and to `chat_id` if given);
        for sends, the messages users received."""
        wanted = method.lower() if method else None
        with self._lock:
            return [
                call
                for call in self.calls
                if call.ok
                and (wanted is None or call.method.lower() == wanted)
                and (chat_id is None or call.chat_id == _chat(chat_id))
            ]

    def messages(self, chat_id: Any = None) -> list[Call]:
        """Every message, photo and document users received (accepted sends)."""
        with self._lock:
            return [
                call
                for call in self.calls
                if call.ok
                and call.method.lower() in SEND_METHODS
                and (chat_id is None or call.chat_id == _chat(chat_id))
            ]

    def texts(self, chat_id: Any = None) -> list[str]:
        return [call.text or "" for call in self.messages(chat_id)]

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.messages()
            if len(got) >= count:
                return got
            time.sleep(0.01)
        raise AssertionError(f"expected {count} messages, got {len(self.messages())}")

    def file_bytes(self, file_id: str) -> bytes:
        return self._files[file_id][1]

    # -- the API -------------------------------------------------------------------------

    def _handle(self, token: str, method: str, params: dict, files: dict) -> tuple[int, dict]:
        call = Call(method=method, params=params, files=files, at=time.time())
        if self.latency:
            time.sleep(self.latency)
        if token != self.token:
            status, body = _error(401, "Unauthorized")
        elif method.lower() == "getupdates":
            # Not under the lock while waiting for updates (long polling).
            status, body = 200, {"ok": True, "result": self._get_updates(params)}
        else:
            with self._lock:
                status, body = self._answer(method, params, files)
        call.status = status
        call.result = body.get("result")
        with self._lock:
            self.calls.append(call)
        return status, body

    def _answer(self, method: str, params: dict, files: dict) -> tuple[int, dict]:
        name = method.lower()
        chat_id = params.get("chat_id")
        failure = self._injected_failure(name, chat_id)
        if failure is not None:
            return _error(failure.error_code, failure.description, failure.retry_after)
        if name in SEND_METHODS or name == "sendchataction":
            if chat_id is None:
                return _error(400, "Bad Request: chat_id is empty")
            if chat_id in self._blocked:
                return _error(403, BLOCKED)
        if name in SEND_METHODS and self.flood_control:
            wait = self._flood_wait(chat_id)
            if wait:
                return _error(429, f"Too Many Requests: retry after {wait}", wait)
        handler = getattr(self, f"_m_{name}", None)
        if handler is None:
            return _error(404, "Not Found")
        try:
            return 200, {"ok": True, "result": handler(params, files)}
        except _BadRequest as bad:
            return _error(400, f"Bad Request: {bad}")

    def _injected_failure(self, name: str, chat_id: Any) -> _Failure | None:
        for failure in self._failures:
            if failure.method not in (None, name):
                continue
            if failure.chat_id is not None and failure.chat_id != chat_id:
                continue
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failures.remove(failure)
            return failure
        return None

    def _flood_wait(self, chat_id: Any) -> int:
        now = time.monotonic()
        recent = self._recent_by_chat[chat_id]
        while recent and now - recent[0] >= 1.0:
            recent.popleft()
        overall = self._recent_overall
        while overall and now - overall[0] >= 1.0:
            overall.popleft()
        if recent or len(overall) >= self.overall_per_second:
            return 1
        recent.append(now)
        overall.append(now)
        return 0

    def _get_updates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        with self._updates_ready:
            if offset:
                # Updates before the offset are confirmed: Telegram forgets them.
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and self._server is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._updates_ready.wait(min(left, 0.1))
            return [dict(u) for u in self._updates[:limit]]

    def _message(self, params: dict, **content) -> dict:
        chat_id = params["chat_id"]
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": _private_chat(chat_id, "Budi")
            if isinstance(chat_id, int)
            else {"id": -1, "type": "channel", "title": str(chat_id)},
            "from": BOT_USER,
        }
        message.update(content)
        if (
            isinstance(params.get("reply_markup"), dict)
            and "inline_keyboard" in params["reply_markup"]
        ):
            message["reply_markup"] = params["reply_markup"]
        return message

    def _m_getme(self, params, files):
        return BOT_USER

    def _m_sendmessage(self, params, files):
        text = params.get("text")
        if not text:
            raise _BadRequest("message text is empty")
        if len(text) > 4096:
            raise _BadRequest("message is too long")
        return self._message(params, text=text)

    def _m_sendphoto(self, params, files):
        data = self._upload(params, files, "photo", "photos/sent_{n}.jpg")
        file_id = data[0]
        content = {
            "photo": [
                {
                    "file_id": file_id,
                    "file_unique_id": f"U{file_id}",
                    "width": 320,
                    "height": 320,
                    "file_size": len(data[1]),
                }
            ]
        }
        if params.get("caption"):
            content["caption"] = params["caption"]
        return self._message(params, **content)

    def _m_senddocument(self, params, files):
        file_id, data, name = self._upload(params, files, "document", "documents/sent_{n}")
        content = {
            "document": {
                "file_id": file_id,
                "file_unique_id": f"U{file_id}",
                "file_name": name,
                "mime_type": _mime(name),
                "file_size": len(data),
            }
        }
        if params.get("caption"):
            content["caption"] = params["caption"]
        return self._message(params, **content)

    def _upload(self, params, files, field_name, path_pattern) -> tuple[str, bytes, str]:
        if field_name in files:
            name, data = files[field_name]
            number = next(self._file_ids)
            file_id = f"FILE{number:06d}"
            self._files[file_id] = (path_pattern.format(n=number), data)
            return file_id, data, name
        given = params.get(field_name)
        if isinstance(given, str) and given in self._files:
            path, data = self._files[given]
            return given, data, path.rsplit("/", 1)[-1]
        raise _BadRequest("wrong file identifier/HTTP URL specified")

    def _m_sendchataction(self, params, files):
        return True

    def _m_getfile(self, params, files):
        file_id = params.get("file_id")
        if file_id not in self._files:
            raise _BadRequest("invalid file_id")
        path, data = self._files[file_id]
        return {
            "file_id": file_id,
            "file_unique_id": f"U{file_id}",
            "file_size": len(data),
            "file_path": path,
        }

    def _m_answercallbackquery(self, params, files):
        if not params.get("callback_query_id"):
            raise _BadRequest(
                "query is too old and response timeout expired or query ID is invalid"
            )
        return True

    def _m_editmessagetext(self, params, files):
        if "inline_message_id" in params:
            return True
        if "chat_id" not in params or "message_id" not in params:
            raise _BadRequest("message to edit not found")
        message = self._message(params, text=params.get("text") or "")
        message["message_id"] = params["message_id"]
        message["edit_date"] = int(time.time())
        return message

    def _m_editmessagereplymarkup(self, params, files):
        if "inline_message_id" in params:
            return True
        message = self._message(params, text="...")
        message["message_id"] = params.get("message_id")
        message["edit_date"] = int(time.time())
        return message

    def _m_deletemessage(self, params, files):
        return True

    def _m_setmycommands(self, params, files):
        return True

    def _m_deletemycommands(self, params, files):
        return True

    def _m_setwebhook(self, params, files):
        self.webhook_url = params.get("url") or ""
        return True

    def _m_deletewebhook(self, params, files):
        self.webhook_url = ""
        return True

    def _m_getwebhookinfo(self, params, files):
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    def _m_close(self, params, files):
        return True

    def _m_logout(self, params, files):
        return True

    def _user_message(self, chat_id: int, first_name: str, language_code: str | None) -> dict:
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": _private_chat(chat_id, first_name),
            "from": _user(chat_id, first_name, language_code),
        }

    def _download(self, token: str, path: str) -> tuple[int, bytes]:
        if token != self.token:
            return 401, b""
        with self._lock:
            for file_path, data in self._files.values():
                if file_path == path:
                    return 200, data
        return 404, b""


class _BadRequest(Exception):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    api: FakeBotApi


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format, *args):  # quiet: tests read the record instead
        pass

    def setup(self):
        super().setup()
        with self.server.api._lock:
            self.server.api._connections.add(self.connection)

    def finish(self):
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.api._lock:
            self.server.api._connections.discard(self.connection)

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def _dispatch(self):
        api = self.server.api
        parts = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        segments = parts.path.lstrip("/").split("/", 2)
        if segments[0] == "file" and len(segments) == 3 and segments[1].startswith("bot"):
            status, data = api._download(unquote(segments[1][3:]), unquote(segments[2]))
            self._reply(status, data, "application/octet-stream")
            return
        if len(segments) != 2 or not segments[0].startswith("bot"):
            self._reply_json(*_error(404, "Not Found"))
            return
        try:
            params, files = _read_parameters(
                self.headers.get("Content-Type", ""), body, parts.query
            )
        except ValueError as bad:
            self._reply_json(*_error(400, f"Bad Request: {bad}"))
            return
        status, reply = api._handle(unquote(segments[0][3:]), segments[1], params, files)
        self._reply_json(status, reply)

    def _reply_json(self, status: int, body: dict):
        self._reply(status, json.dumps(body).encode(), "application/json")

    def _reply(self, status: int, data: bytes, content_type: str):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _read_parameters(content_type: str, body: bytes, query: str) -> tuple[dict, dict]:
    raw: dict[str, str] = {k: v[-1] for k, v in parse_qs(query).items()}
    files: dict[str, tuple[str, bytes]] = {}
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json" and body:
        for key, value in json.loads(body).items():
            raw[key] = value if isinstance(value, str) else json.dumps(value)
    elif kind == "multipart/form-data":
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        if not message.is_multipart():
            raise ValueError("a multipart body without parts")
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if filename is not None:
                files[name] = (filename, data)
            else:
                raw[name] = data.decode("utf-8")
    elif body:
        raw.update(
            {k: v[-1] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
        )
    # Files attached by reference: python-telegram-bot names the part "attach://<name>".
    for key, value in list(raw.items()):
        if isinstance(value, str) and value.startswith("attach://") and value[9:] in files:
            files[key] = files.pop(value[9:])
            del raw[key]
    return {key: _decode(key, value) for key, value in raw.items()}, files


def _decode(key: str, value: str) -> Any:
    if key in JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if key in ("chat_id", "user_id"):
        return _chat(value)
    if key in ("message_id", "offset", "limit", "timeout", "reply_to_message_id"):
        try:
            return int(value)
        except ValueError:
            return value
    return value


def _chat(chat_id: Any) -> Any:
    """Chat ids compare as ints (they travel as text) or as @channel names."""
    if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
        return int(chat_id)
    return chat_id


def _error(code: int, description: str, retry_after: int | None = None) -> tuple[int, dict]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return code, body


def _private_chat(chat_id: int, first_name: str) -> dict:
    return {"id": chat_id, "type": "private", "first_name": first_name}


def _user(user_id: int, first_name: str, language_code: str | None) -> dict:
    user = {"id": user_id, "is_bot": False, "first_name": first_name}
    if language_code:
        user["language_code"] = language_code
    return user


def _with_id(update: dict, update_id: int | None) -> dict:
    if update_id is not None:
        update["update_id"] = update_id
    return update


def _mime(name: str) -> str:
    if name.lower().endswith(".pdf"):
        return "application/pdf"
    if name.lower().endswith(".html"):
        return "text/html"
    return "application/octet-stream"
