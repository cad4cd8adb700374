"""LINE: the webhook the LINE Platform calls, the renderer of the dialogue's replies, and
the sender the outbox worker pushes notices with. Everything goes through line-bot-sdk.

The webhook (`LineWebhook`, a WSGI app) is mounted by pulsa/ in the customer portal's web
server at WEBHOOK_PATH when PULSA_LINE_CHANNEL_SECRET and PULSA_LINE_ACCESS_TOKEN are set.
Every request's X-Line-Signature (base64 of the HMAC-SHA256 of the raw body, keyed with
the channel secret) is checked by the SDK's parser before anything else is read from it:
a missing or wrong signature is refused (400) and logged. The events are then handed to
worker threads and the request is answered at once (LINE wants its 200 quickly); each
event goes to the platform-neutral dialogue (bots.dialogue.handle), which handles each
webhookEventId once, so a redelivered event acts once. The answer goes back with the
event's reply token (free, valid about a minute), else as a push.

Rendering (LINE's limits): a reply's buttons become quick-reply postback buttons (at most
13, labels at most 20 characters, the full label shown in the chat when tapped); a longer
list becomes a Flex message with one button per entry; a file is sent as a text message
(a bot cannot send a file on LINE): its text when it is a short text file, else its name
and where to get it. A text longer than a LINE message is split.

Linking: the portal's "Connect LINE" gives a short code; typed into a chat that is linked
to nobody, the transport hands it to the dialogue as `/start <code>`, the way Telegram's
"Connect Telegram" link arrives.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bots.chat import Button, Incoming, Reply
    from pulsa.settings import Settings
    from wallet.db import Database

log = logging.getLogger("pulsa.bots.line")

PLATFORM = "line"
WEBHOOK_PATH = "/line/webhook"
#: LINE's webhook bodies are a few kilobytes (a handful of events); anything much larger
#: is not LINE and is refused before its signature is even computed.
MAX_BODY_BYTES = 256 * 1024
MAX_QUICK_REPLY_ITEMS = 13
MAX_LABEL_CHARACTERS = 20
MAX_TEXT_UNITS = 5000  # a text message, counted in UTF-16 code units
MAX_DISPLAY_TEXT = 300
MAX_ALT_TEXT = 400
MAX_MESSAGES_PER_REQUEST = 5
#: A longer list of buttons: Flex bubbles of this many buttons, at most MAX_BUBBLES of them.
BUTTONS_PER_BUBBLE = 10
MAX_BUBBLES = 12
#: A customer's photo is read up to the size a payment proof may have, plus one byte (so
#: that the dialogue sees that it is too large and says so).
MAX_PHOTO_BYTES = 5 * 1024 * 1024
#: An event whose handling failed is tried again after these many seconds, then given up
#: (its reply token lasts about a minute; after that the answer is pushed).
RETRY_DELAYS = (0.5, 2.0, 5.0)
API_TIMEOUT_SECONDS = 10
PROFILE_TTL_SECONDS = 3600
#: LINE allows 2,000 pushes a second per channel; the sender keeps half of that as margin
#: (LINE advises a margin: other clients of the channel count too).
PUSHES_PER_SECOND = 1000.0
#: A link code as messaging.chats makes it (8 characters of its alphabet), the way the
#: portal shows it (ABCD-EF23) or typed without the dash.
LINK_CODE = re.compile(r"^\s*([0-9A-Za-z]{4})([\s-]?)([0-9A-Za-z]{4})\s*$")


# --- rendering ---------------------------------------------------------------------------


def utf16_units(text: str) -> int:
    """A text's length as LINE counts it for messages."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT_UNITS) -> list[str]:
    """`text` in pieces LINE takes as text messages, cut at line ends where possible."""
    text = text or ""
    if utf16_units(text) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    rest = text
    while rest:
        if utf16_units(rest) <= limit:
            pieces.append(rest)
            break
        # The longest head within the limit (a surrogate pair counts two units).
        size, units = 0, 0
        for character in rest:
            units += 2 if ord(character) > 0xFFFF else 1
            if units > limit:
                break
            size += 1
        head = rest[:size]
        cut = head.rfind("\n")
        if cut > size // 2:
            head = head[: cut + 1]
        pieces.append(head)
        rest = rest[len(head) :]
    return pieces


def short_label(label: str, limit: int = MAX_LABEL_CHARACTERS) -> str:
    """A button's label within LINE's limit (LINE counts characters as seen; code points
    are never fewer), shortened with an ellipsis."""
    label = " ".join((label or "").split()) or "?"
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def _postback(button: Button):
    from linebot.v3.messaging import PostbackAction

    label = " ".join((button.label or "").split())
    return PostbackAction(
        label=short_label(label),
        data=button.data,
        # What the chat shows as the customer's answer: the whole label.
        display_text=label[:MAX_DISPLAY_TEXT] or None,
    )


def _buttons_of(reply: Reply) -> list[Button]:
    return [button for row in reply.buttons for button in row]


def render_reply(reply: Reply, *, language: str = "en", portal_address: str = "") -> list:
    """One dialogue reply as LINE messages (SDK message objects)."""
    from linebot.v3.messaging import QuickReply, QuickReplyItem, TextMessage

    texts = split_text(reply.text)
    if reply.document is not None:
        texts.extend(_document_texts(reply.document, language, portal_address))
    if not texts:
        texts = ["…"]
    messages: list = [TextMessage(text=text) for text in texts]
    buttons = _buttons_of(reply)
    if not buttons:
        return messages
    if len(buttons) <= MAX_QUICK_REPLY_ITEMS:
        messages[-1].quick_reply = QuickReply(
            items=[QuickReplyItem(action=_postback(button)) for button in buttons]
        )
        return messages
    messages.append(_button_list(reply, texts[-1]))
    return messages


def _button_list(reply: Reply, alt_text: str):
    """More buttons than a quick reply holds: a Flex carousel of bubbles, each a column of
    buttons (a row of the reply's buttons stays a row)."""
    from linebot.v3.messaging import (
        FlexBox,
        FlexBubble,
        FlexButton,
        FlexCarousel,
        FlexMessage,
    )

    rows: list[list[Button]] = [list(row) for row in reply.buttons if row]
    bubbles: list = []
    current: list = []
    count = 0
    dropped = 0
    for row in rows:
        if count + len(row) > BUTTONS_PER_BUBBLE and current:
            bubbles.append(current)
            current, count = [], 0
        if len(bubbles) >= MAX_BUBBLES:
            dropped += len(row)
            continue
        current.append(row)
        count += len(row)
    if current and len(bubbles) < MAX_BUBBLES:
        bubbles.append(current)
    if dropped:
        log.warning("LINE: %d buttons beyond %d bubbles left out", dropped, MAX_BUBBLES)

    def button(b: Button):
        return FlexButton(action=_postback(b), style="secondary", height="sm")

    def line_of(row: list[Button]):
        if len(row) == 1:
            return button(row[0])
        return FlexBox(layout="horizontal", spacing="sm", contents=[button(b) for b in row])

    def bubble(bubble_rows: list[list[Button]]):
        return FlexBubble(
            body=FlexBox(
                layout="vertical", spacing="sm", contents=[line_of(r) for r in bubble_rows]
            )
        )

    if len(bubbles) == 1:
        contents = bubble(bubbles[0])
    else:
        contents = FlexCarousel(contents=[bubble(b) for b in bubbles])
    alt = " ".join(alt_text.split())[:MAX_ALT_TEXT] or "…"
    return FlexMessage(alt_text=alt, contents=contents)


def _document_texts(document: tuple[str, bytes], language: str, portal_address: str) -> list[str]:
    """A file as text messages: a LINE bot cannot send a file. A short UTF-8 text file is
    sent as its text; anything else is named, with where the customer can get it."""
    from bots.i18n import gettext_for

    _ = gettext_for(language)
    name, data = document
    name = " ".join((name or "").split())[:100]
    try:
        content: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        content = None
    if content is not None and not all(c.isprintable() or c in "\r\n\t" for c in content):
        content = None  # not a text file
    heading = f"📄 {name}\n\n"
    if content is not None and utf16_units(heading + content) <= MAX_TEXT_UNITS:
        return [heading + content]
    return [
        _(
            "📄 %(name)s cannot be sent in LINE (a LINE chat takes no files from us). "
            "Get it on the portal: %(url)s",
            name=name,
            url=portal_address,
        )
    ]


def render(replies: Iterable[Reply], *, language: str = "en", portal_address: str = "") -> list:
    messages: list = []
    for reply in replies:
        messages.extend(render_reply(reply, language=language, portal_address=portal_address))
    return messages


def batches(messages: Sequence, size: int = MAX_MESSAGES_PER_REQUEST) -> list[list]:
    """Messages in requests LINE takes (at most 5 messages per reply or push)."""
    return [list(messages[i : i + size]) for i in range(0, len(messages), size)]


# --- the webhook --------------------------------------------------------------------------


class Refused(Exception):
    """A webhook request that is not LINE's (or not whole): answered with `status`."""

    def __init__(self, status: str, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


class _Profiles:
    """Display names and languages of LINE users, asked once an hour per user (the
    webhook's events carry neither)."""

    def __init__(self, fetch: Callable[[str], Any], ttl: float = PROFILE_TTL_SECONDS) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._known: dict[str, tuple[float, str | None, str | None]] = {}
        self._lock = threading.Lock()

    def of(self, user_id: str) -> tuple[str | None, str | None]:
        now = time.monotonic()
        with self._lock:
            known = self._known.get(user_id)
        if known is not None and known[0] > now:
            return known[1], known[2]
        name = language = None
        try:
            profile = self._fetch(user_id)
            name = getattr(profile, "display_name", None)
            language = getattr(profile, "language", None)
        except Exception as error:  # a profile is a nicety: the dialogue works without
            log.info("LINE profile of %s not read: %s", user_id, _api_error(error))
        with self._lock:
            if len(self._known) > 4096:
                self._known.clear()
            self._known[user_id] = (now + self._ttl, name, language)
        return name, language


class LineWebhook:
    """The WSGI app at WEBHOOK_PATH. `handle` is the dialogue (bots.dialogue.handle by
    default); `close()` stops its worker threads and its API client."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        *,
        handle: Callable[[Database, Settings, Incoming], list[Reply]] | None = None,
        workers: int = 8,
        retry_delays: Sequence[float] = RETRY_DELAYS,
    ) -> None:
        from linebot.v3 import WebhookParser
        from linebot.v3.messaging import (
            ApiClient,
            Configuration,
            MessagingApi,
            MessagingApiBlob,
        )

        if not settings.line_configured:
            raise ValueError("LINE is not configured (PULSA_LINE_CHANNEL_SECRET, ..._ACCESS_TOKEN)")
        if handle is None:
            from bots.dialogue import handle as dialogue_handle

            handle = dialogue_handle
        self.settings = settings
        self.database = database
        self._handle = handle
        self._parser = WebhookParser(settings.line_channel_secret)
        self._retry_delays = tuple(retry_delays)
        # Reentrant: a future already done runs its callback (which takes the lock) at once.
        self._lock = threading.RLock()
        self._in_flight: set = set()
        self._queues: dict[str, deque] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pulsa-line")
        token = settings.line_access_token
        self._client = ApiClient(Configuration(host=settings.line_api_url, access_token=token))
        self._data_client = ApiClient(
            Configuration(host=settings.line_data_api_url, access_token=token)
        )
        self.api = MessagingApi(self._client)
        self.blob = MessagingApiBlob(self._data_client)
        self._profiles = _Profiles(
            lambda user: self.api.get_profile(user, _request_timeout=API_TIMEOUT_SECONDS)
        )
        self._bot_named = threading.Event()
        if database is not None:
            self._pool.submit(self.learn_bot_name)

    def learn_bot_name(self) -> None:
        """Note the account's LINE ID (its premium ID, else its basic ID) for the portal's
        link to it; tried at start and again with the next events until LINE answers."""
        if self._bot_named.is_set():
            return
        from messaging.chats import remember_bot

        try:
            info = self.api.get_bot_info(_request_timeout=API_TIMEOUT_SECONDS)
            name = info.premium_id or info.basic_id
            self.database.run(lambda session: remember_bot(session, PLATFORM, name))
        except Exception as error:  # the bot works without; only the portal's link waits
            log.warning("LINE account's ID not read yet: %s", _api_error(error))
            return
        self._bot_named.set()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
        self._client.close()
        self._data_client.close()

    # WSGI

    def __call__(self, environ, start_response):
        peer = environ.get("REMOTE_ADDR", "?")
        try:
            if environ.get("REQUEST_METHOD") != "POST":
                raise Refused("405 Method Not Allowed", "not a POST")
            body = self._read_body(environ)
            events = self._parse(body, environ.get("HTTP_X_LINE_SIGNATURE"))
        except Refused as refused:
            log.warning("LINE webhook request from %s refused: %s", peer, refused.why)
            return _respond(start_response, refused.status, {"error": refused.why})
        if not events:
            # The console's "Verify" button, or only events of no interest.
            return _respond(start_response, "200 OK", {})
        # Answered at once, as LINE asks (a bot server that answers slowly holds up the
        # webhooks after it): the events are handled by the worker threads.
        self.enqueue(events)
        return _respond(start_response, "200 OK", {})

    def enqueue(self, events: Sequence) -> None:
        """Hand events to the worker threads: a chat's events one after another in the
        order LINE sent them (a top-up's amount before its photo, even when they came in
        two requests at once), many chats at the same time, in turn."""
        with self._lock:
            for event in events:
                source = getattr(event, "source", None)
                chat = getattr(source, "user_id", None) or ""
                queue = self._queues.get(chat)
                if queue is not None:
                    queue.append(event)
                    continue
                self._queues[chat] = deque([event])
                self._submit(chat)

    def _submit(self, chat: str) -> None:
        future = self._pool.submit(self._next_of, chat)
        self._in_flight.add(future)
        future.add_done_callback(self._finished)

    def _finished(self, future) -> None:
        with self._lock:
            self._in_flight.discard(future)

    def _next_of(self, chat: str) -> None:
        """Handle the chat's next event; its event after that waits its turn behind the
        other chats' (a chat that writes at once again never keeps a thread to itself)."""
        if not self._bot_named.is_set() and self.database is not None:
            self.learn_bot_name()
        with self._lock:
            event = self._queues[chat][0]
        try:
            self.handle_with_retries(event)
        finally:
            with self._lock:
                queue = self._queues[chat]
                queue.popleft()
                if queue:
                    self._submit(chat)
                else:
                    del self._queues[chat]

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until the events received so far are handled (tests, a graceful stop)."""
        from concurrent.futures import wait

        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = set(self._in_flight)
            if not pending:
                return True
            left = deadline - time.monotonic()
            if left <= 0 or wait(pending, timeout=left).not_done:
                return False

    def _read_body(self, environ) -> bytes:
        length_text = environ.get("CONTENT_LENGTH") or ""
        if length_text:
            try:
                length = int(length_text)
            except ValueError:
                raise Refused("400 Bad Request", "a Content-Length that is not a number") from None
            if length > MAX_BODY_BYTES:
                raise Refused("413 Content Too Large", f"a body of {length} bytes")
        else:
            length = MAX_BODY_BYTES + 1
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        if len(body) > MAX_BODY_BYTES:
            raise Refused("413 Content Too Large", "a body larger than a webhook's")
        return body

    def _parse(self, body: bytes, signature: str | None) -> list:
        from linebot.v3.exceptions import InvalidSignatureError

        if not signature:
            raise Refused("400 Bad Request", "no X-Line-Signature")
        if not _looks_like_signature(signature):
            raise Refused("400 Bad Request", "an X-Line-Signature that is not a signature")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused("400 Bad Request", "a body that is not UTF-8") from None
        try:
            return list(self._parser.parse(text, signature))
        except InvalidSignatureError:
            raise Refused("400 Bad Request", "a wrong X-Line-Signature") from None
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            # Signed by LINE yet not a webhook body (the signature is checked first).
            raise Refused("400 Bad Request", f"a body that is not a webhook's: {error}") from None

    # Events

    def handle_with_retries(self, event) -> None:
        """Handle one event. When that fails (the database unreachable...), nothing of it
        was committed: it is tried again after RETRY_DELAYS, then logged as lost."""
        event_id = getattr(event, "webhook_event_id", "?")
        for attempt, delay in enumerate((*self._retry_delays, None), start=1):
            try:
                self.handle_event(event)
                return
            except Exception as error:
                if delay is None:
                    log.exception("LINE event %s lost after %d attempts", event_id, attempt)
                    return
                log.warning(
                    "LINE event %s failed (%s): trying again in %s s", event_id, error, delay
                )
                time.sleep(delay)

    def handle_event(self, event) -> None:
        from linebot.v3.webhooks import (
            FollowEvent,
            ImageMessageContent,
            MessageEvent,
            PostbackEvent,
            TextMessageContent,
            UnfollowEvent,
            UserSource,
        )

        event_id = getattr(event, "webhook_event_id", None)
        mode = getattr(getattr(event, "mode", None), "value", getattr(event, "mode", None))
        if not event_id or mode != "active":
            return  # standby: another module of the channel answers
        source = getattr(event, "source", None)
        if not isinstance(source, UserSource) or not source.user_id:
            log.info("LINE event %s from a group or room ignored (one-to-one chats only)", event_id)
            return
        user_id = source.user_id
        if isinstance(event, UnfollowEvent):
            self._unfollowed(event_id, user_id)
            return
        if isinstance(event, FollowEvent):
            incoming = self._incoming(event_id, user_id, text="/start")
        elif isinstance(event, PostbackEvent):
            incoming = self._incoming(event_id, user_id, button=event.postback.data)
        elif isinstance(event, MessageEvent):
            message = event.message
            if isinstance(message, TextMessageContent):
                incoming = self._incoming(event_id, user_id, text=self._text(user_id, message.text))
            elif isinstance(message, ImageMessageContent):
                if self._handled(event_id):
                    return  # redelivered: not downloaded again
                photo = self._photo(message)
                incoming = self._incoming(event_id, user_id, photo=photo)
            else:
                # A sticker, a location, a voice message...: the dialogue's help.
                incoming = self._incoming(event_id, user_id)
        else:
            return
        replies = self._handle(self.database, self.settings, incoming)
        self.answer(user_id, getattr(event, "reply_token", None), replies, incoming.language)

    def _incoming(self, event_id: str, user_id: str, **what) -> Incoming:
        from bots.chat import Incoming

        name, language = self._profiles.of(user_id)
        return Incoming(
            platform=PLATFORM,
            chat_id=user_id,
            update_id=event_id,
            language=language,
            sender_name=name,
            **what,
        )

    def _text(self, user_id: str, text: str) -> str:
        """A link code typed into a chat linked to nobody is the chat's `/start <code>`."""
        code = link_code_in(text)
        if code is None:
            return text
        from messaging.chats import find_link

        with self.database.transaction() as session:
            linked = find_link(session, PLATFORM, user_id) is not None
        return text if linked else f"/start {code}"

    def _handled(self, event_id: str) -> bool:
        from messaging.chats import was_handled

        with self.database.transaction() as session:
            return was_handled(session, PLATFORM, event_id)

    def _photo(self, message) -> bytes | None:
        provider = getattr(getattr(message, "content_provider", None), "type", "line")
        if provider != "line":
            return None  # an image LINE does not hold (sent by another service)
        response = self.blob.get_message_content_with_http_info(
            message.id, _preload_content=False, _request_timeout=API_TIMEOUT_SECONDS
        )
        raw = response.raw_data
        if isinstance(raw, (bytes, bytearray)):
            return bytes(raw[: MAX_PHOTO_BYTES + 1])
        try:
            return raw.read(MAX_PHOTO_BYTES + 1)
        finally:
            raw.release_conn()

    def _unfollowed(self, event_id: str, user_id: str) -> None:
        """The customer blocked the account: nothing can be answered, and notices are not
        pushed to the chat (they fail at once, shown on the admin's Notices screen). The
        chat's link stays: unblocking (a follow event) brings the notices back."""
        from messaging.chats import claim_update, mark_chat_blocked

        def work(session):
            return claim_update(session, PLATFORM, event_id, user_id) and (
                mark_chat_blocked(session, PLATFORM, user_id) or True
            )

        if self.database.run(work):
            log.info("LINE chat %s blocked the account (unfollow)", user_id)

    # Answers

    def answer(
        self, user_id: str, reply_token: str | None, replies: list[Reply], language: str | None
    ) -> None:
        """Send the replies: the first five messages with the reply token, the rest (or
        all, when the token is gone) pushed."""
        from linebot.v3.messaging import ApiException, PushMessageRequest, ReplyMessageRequest

        if not replies:
            return
        messages = render(
            replies, language=_language(language), portal_address=self.settings.portal_address
        )
        requests = batches(messages)
        if reply_token and requests:
            try:
                self.api.reply_message(
                    ReplyMessageRequest(reply_token=reply_token, messages=requests[0]),
                    _request_timeout=API_TIMEOUT_SECONDS,
                )
                requests = requests[1:]
            except ApiException as error:
                log.info("LINE reply to %s refused (%s): pushing", user_id, _api_error(error))
            except Exception as error:
                log.warning("LINE reply to %s failed (%s): pushing", user_id, error)
        for batch in requests:
            try:
                self.api.push_message(
                    PushMessageRequest(to=user_id, messages=batch),
                    x_line_retry_key=str(uuid.uuid4()),
                    _request_timeout=API_TIMEOUT_SECONDS,
                )
            except Exception as error:
                log.error("LINE answer to %s lost: %s", user_id, _api_error(error))
                return


def link_code_in(text: str | None) -> str | None:
    """The link code a message is, else None. Case does not matter; so that an ordinary
    eight-letter word ("transfer") is not taken for a code, a code must come as the
    portal shows it (with its dash or a space), or hold a digit, or be in capitals."""
    from messaging.chats import CODE_ALPHABET

    match = LINK_CODE.match(text or "")
    if match is None:
        return None
    first, separator, second = match.groups()
    code = (first + second).upper()
    if any(character not in CODE_ALPHABET for character in code):
        return None
    typed = first + second
    if separator or any(c.isdigit() for c in typed) or typed.isupper():
        return code
    return None


def _language(code: str | None) -> str:
    from messaging.chats import chat_language

    return chat_language(code)


def _looks_like_signature(value: str) -> bool:
    """A base64 HMAC-SHA256 (44 characters): anything else is refused before parsing."""
    if len(value) != 44:
        return False
    try:
        return len(base64.b64decode(value, validate=True)) == hashlib.sha256().digest_size
    except (binascii.Error, ValueError):
        return False


def _respond(start_response, status: str, payload: dict) -> list[bytes]:
    body = json.dumps(payload).encode("utf-8")
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _api_error(error: BaseException) -> str:
    """An SDK error in one line: the HTTP status and LINE's message."""
    status = getattr(error, "status", None)
    if status is None:
        return str(error) or type(error).__name__
    return f"HTTP {status}: {_line_message(getattr(error, 'body', None))}"


def _line_message(body) -> str:
    """LINE's error message, with its details (which property was refused, and why)."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    try:
        payload = json.loads(body)
        message = str(payload.get("message") or body)
        details = [
            f"{d.get('property', '?')}: {d.get('message', '')}"
            for d in payload.get("details") or []
            if isinstance(d, dict)
        ]
    except (ValueError, TypeError, AttributeError):
        return str(body or "")[:300]
    if details:
        message += " (" + "; ".join(details) + ")"
    return message[:500]


# --- the sender ---------------------------------------------------------------------------


def retry_key(notice_key: str) -> str:
    """The X-Line-Retry-Key of a notice: the same notice pushed again (after a crash, a
    timeout) is recognised by LINE for 24 hours and not delivered twice."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pulsa:line:{notice_key}"))


class LineSender:
    """Pushes notices to LINE chats for the outbox worker (bots.delivery's Sender).

    Idempotent: every push carries an X-Line-Retry-Key made from the delivery's key, so
    the worker may send a delivery again after a crash or a lost answer and LINE shows it
    once (a second push with the key is 409 "already accepted": sent). 429 (a rate limit
    or the month's message allowance) is RetryLater for as long as LINE says (else a
    second; an hour for the allowance); a 4xx LINE refuses for good (no such user, a bad
    message) is Undeliverable; LINE unreachable or a 5xx is RetryLater (the worker backs
    off); a refused access token (401) is RetryLater for five minutes, loudly logged: the
    notices wait until the setting is fixed."""

    platform = PLATFORM
    idempotent = True
    per_second = PUSHES_PER_SECOND
    per_chat_per_second = 0.0  # LINE has no per-chat limit

    def __init__(self, settings: Settings, *, timeout: float = API_TIMEOUT_SECONDS) -> None:
        if not settings.line_configured:
            raise ValueError("LINE is not configured")
        self.settings = settings
        self._timeout = timeout
        self.longest_send = 2 * timeout  # for the worker's lease
        self._client = None
        self._api = None

    async def start(self) -> None:
        self._messaging()

    def _messaging(self):
        if self._api is None:
            from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApi, Configuration

            self._client = AsyncApiClient(
                Configuration(
                    host=self.settings.line_api_url, access_token=self.settings.line_access_token
                )
            )
            self._api = AsyncMessagingApi(self._client)
        return self._api

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = self._api = None

    async def send(
        self,
        chat_id: str,
        text: str,
        buttons: Sequence[Sequence[Button]] = (),
        document: tuple[str, bytes] | None = None,
        *,
        key: str | None = None,
        language: str = "en",
    ) -> str | None:
        """Push `text` (with its buttons as quick replies); returns LINE's id of the first
        message sent (None when LINE had accepted this delivery before)."""
        import aiohttp
        from linebot.v3.messaging import ApiException, PushMessageRequest

        from bots.chat import Reply
        from bots.delivery import RetryLater, Undeliverable

        reply = Reply(text, buttons=tuple(tuple(row) for row in buttons), document=document)
        messages = render_reply(
            reply, language=language, portal_address=self.settings.portal_address
        )
        api = self._messaging()
        first_id: str | None = None
        for number, batch in enumerate(batches(messages)):
            retry = retry_key(f"{key}#{number}") if key else str(uuid.uuid4())
            try:
                response = await api.push_message(
                    PushMessageRequest(to=chat_id, messages=batch),
                    x_line_retry_key=retry,
                    _request_timeout=self._timeout,
                )
            except ApiException as error:
                status = error.status or 0
                why = _api_error(error)
                if status == 409 and _accepted_before(error):
                    continue  # this very push was accepted before (same retry key)
                if status == 429:
                    wait = _retry_after(error, default=_quota_wait(error))
                    raise RetryLater(wait, f"LINE: {why}", rate_limited=True) from None
                if status == 401:
                    log.error("LINE refused the access token (PULSA_LINE_ACCESS_TOKEN): %s", why)
                    # Every push is refused until the setting is fixed: LINE waits, and
                    # the waiting costs the notices no attempt.
                    raise RetryLater(
                        300.0, f"LINE refused the access token: {why}", rate_limited=True
                    ) from None
                if 400 <= status < 500:
                    raise Undeliverable(f"LINE refused the message: {why}") from None
                raise RetryLater(None, f"LINE: {why}") from None
            except (TimeoutError, aiohttp.ClientError, OSError) as error:
                # Safe to send again even when the push did arrive: the retry key.
                reason = f"LINE unreachable: {error or type(error).__name__}"
                raise RetryLater(None, reason) from error
            if first_id is None:
                sent = getattr(response, "sent_messages", None) or []
                first_id = getattr(sent[0], "id", None) if sent else None
        return first_id


def _header(error, name: str) -> str | None:
    headers = getattr(error, "headers", None) or {}
    try:
        for key, value in dict(headers).items():
            if key.lower() == name.lower():
                return value
    except (TypeError, ValueError):
        return None
    return None


def _accepted_before(error) -> bool:
    """A 409 to a push with a retry key that LINE accepted earlier (it names the request
    it accepted); any other 409 is a refusal."""
    return bool(_header(error, "x-line-accepted-request-id"))


def _retry_after(error, *, default: float) -> float:
    value = _header(error, "retry-after")
    try:
        return max(1.0, float(value)) if value else default
    except ValueError:
        return default


def _quota_wait(error) -> float:
    """A rate limit passes within a second; the month's message quota does not (LINE says
    "You have reached your monthly limit."): try again in an hour."""
    return 3600.0 if "monthly limit" in _line_message(getattr(error, "body", None)) else 1.0
