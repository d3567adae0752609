"""A small fake Telegram Bot API server over real HTTP, for driving the real python-telegram-bot client.

Serves `/bot<token>/<method>` (form, multipart or JSON bodies; non-string values JSON-decoded) and
`/file/bot<token>/<path>` downloads. Tests push updates, read what the bot called, and can make the next
calls to a method fail (HTTP 429 with retry_after, 5xx). Pushed updates wait for getUpdates (long
polling) or, when `webhooks` is set, are POSTed to those URLs in turn, as Telegram does to a webhook
behind a round-robin load balancer.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import itertools
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

BOT_ID = 4242
BOT_USERNAME = "footnote_test_bot"


@dataclass
class Call:
    """One Bot API request the bot made."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)
    result: Any = None  # what the fake answered (a sent Message's message_id, for instance)


class FakeTelegram:
    """The fake server; start() in a thread, stop() wakes long polls so teardown is quick."""

    _running: ClassVar[weakref.WeakValueDictionary[str, FakeTelegram]] = weakref.WeakValueDictionary()

    def __init__(self, token: str = "123456:TEST-TOKEN") -> None:
        self.token = token
        self.calls: list[Call] = []
        self.files: dict[str, bytes] = {}
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = itertools.count(1)
        self._next_message_id = itertools.count(1000)
        self._failures: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self._drops: dict[str, int] = {}
        self._processed: set[int] = set()
        self._cond = threading.Condition()
        self._stopping = False
        self.webhooks: list[str] = []
        self.webhook_secret: str | None = None
        self.next_webhook = 0  # index into `webhooks` of the next delivery
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle -----------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What to give ApplicationBuilder().base_url(); it must end in /bot."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/file/bot"

    @classmethod
    def serving(cls, base_url: str) -> FakeTelegram | None:
        """The running fake at this base URL, if any."""
        return cls._running.get(base_url)

    def start(self) -> FakeTelegram:
        self._thread.start()
        FakeTelegram._running[self.base_url] = self
        return self

    def stop(self) -> None:
        FakeTelegram._running.pop(self.base_url, None)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()

    # -- what tests do -------------------------------------------------------------------------------

    def push_message(
        self,
        text: str | None = None,
        *,
        user_id: int = 1,
        chat_id: int | None = None,
        chat_type: str = "private",
        username: str = "reader",
        language: str = "en",
        reply_to_bot: bool = False,
        thread_id: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Queue an incoming message; commands get their bot_command entity."""
        chat_id = user_id if chat_id is None else chat_id
        message: dict[str, Any] = {
            "message_id": next(self._next_message_id),
            "date": int(time.time()),
            "chat": {
                "id": chat_id,
                "type": chat_type,
                **({"title": "Group"} if chat_type != "private" else {}),
            },
            "from": {
                "id": user_id,
                "is_bot": False,
                "first_name": username,
                "username": username,
                "language_code": language,
            },
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
            mention = f"@{BOT_USERNAME}"
            if mention in text:
                message["entities"] = [
                    *message.get("entities", []),
                    {"type": "mention", "offset": text.index(mention), "length": len(mention)},
                ]
        if reply_to_bot:
            message["reply_to_message"] = {
                "message_id": 1,
                "date": int(time.time()),
                "chat": message["chat"],
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Footnote", "username": BOT_USERNAME},
                "text": "an earlier answer",
            }
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
            message["chat"]["is_forum"] = True
        message.update(extra or {})
        return self.push_update({"message": message})

    def push_document(
        self,
        file_name: str,
        content: bytes,
        *,
        user_id: int = 1,
        caption: str | None = None,
        chat_id: int | None = None,
        chat_type: str = "private",
    ) -> dict[str, Any]:
        """Queue a message (private unless told otherwise) carrying a document the bot can download."""
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = content
        document = {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_name": file_name,
            "file_size": len(content),
        }
        extra: dict[str, Any] = {"document": document}
        if caption:
            extra["caption"] = caption
        return self.push_message(None, user_id=user_id, chat_id=chat_id, chat_type=chat_type, extra=extra)

    def push_callback(
        self,
        data: str,
        *,
        user_id: int = 1,
        message_id: int = 1,
        chat_id: int | None = None,
        chat_type: str = "private",
        thread_id: int | None = None,
    ) -> None:
        """Queue a button press on one of the bot's messages (in a forum topic when `thread_id` is set)."""
        chat_id = user_id if chat_id is None else chat_id
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Footnote"},
            "text": "an answer",
        }
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
            message["chat"]["is_forum"] = True
        self.push_update(
            {
                "callback_query": {
                    "id": f"cb-{time.monotonic_ns()}",
                    "chat_instance": "ci",
                    "data": data,
                    "from": {"id": user_id, "is_bot": False, "first_name": "reader"},
                    "message": message,
                }
            }
        )

    def push_inline_query(
        self, query: str, *, user_id: int = 1, query_id: str | None = None, language: str = "en"
    ) -> str:
        """Queue an inline query (`@bot query` typed in some chat); returns its id."""
        query_id = query_id or f"iq-{time.monotonic_ns()}"
        self.push_update(
            {
                "inline_query": {
                    "id": query_id,
                    "from": {
                        "id": user_id,
                        "is_bot": False,
                        "first_name": "reader",
                        "language_code": language,
                    },
                    "query": query,
                    "offset": "",
                    "chat_type": "supergroup",
                }
            }
        )
        return query_id

    def push_channel_post(
        self,
        text: str,
        *,
        chat_id: int = -1001234567890,
        username: str | None = "analysts",
        message_id: int = 10,
        edited: bool = False,
        entities: list[dict[str, Any]] | None = None,
        caption: bool = False,
    ) -> dict[str, Any]:
        """Queue a channel post (or its edit) as a channel the bot administers sends it."""
        chat: dict[str, Any] = {"id": chat_id, "type": "channel", "title": "Analysts' channel"}
        if username:
            chat["username"] = username
        post: dict[str, Any] = {
            "message_id": message_id,
            "date": 1_764_000_000,
            "chat": chat,
            "sender_chat": chat,
        }
        if caption:
            post["caption"] = text
            post["photo"] = [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]
            if entities:
                post["caption_entities"] = entities
        else:
            post["text"] = text
            if entities:
                post["entities"] = entities
        if edited:
            post["edit_date"] = 1_764_000_600
        return self.push_update({"edited_channel_post" if edited else "channel_post": post})

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            update = {"update_id": next(self._next_update_id), **update}
            if not self.webhooks:
                self._updates.append(update)
                self._cond.notify_all()
                return update
        self._deliver(update)
        return update

    def _deliver(self, update: dict[str, Any], attempts: int = 40) -> None:
        """POST an update to the next webhook, retrying while it is not listening yet (Telegram retries)."""
        target = self.next_webhook % len(self.webhooks)
        self.next_webhook = target + 1
        headers = {"Content-Type": "application/json"}
        if self.webhook_secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook_secret
        request = urllib.request.Request(
            self.webhooks[target], json.dumps(update).encode(), headers=headers, method="POST"
        )
        for attempt in range(attempts):
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    status = response.status
                break
            except urllib.error.HTTPError as exc:
                status = exc.code
                break
            except OSError:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.25)
        with self._cond:
            self.calls.append(Call(f"webhook:{target}", {"update_id": update["update_id"], "status": status}))
            self._cond.notify_all()

    def fail_next(self, method: str, status: int, times: int = 1, **body: Any) -> None:
        """Make the next `times` calls of `method` answer with this HTTP status and error body."""
        self._failures.setdefault(method, []).extend([(status, body)] * times)

    def drop_next(self, method: str, times: int = 1) -> None:
        """Close the connection unanswered on the next `times` calls of `method`, before handling them."""
        self._drops[method] = self._drops.get(method, 0) + times

    def calls_to(self, method: str) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.method == method]

    def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] = lambda c: True,
        timeout: float = 20.0,
        count: int = 1,
    ) -> list[Call]:
        """Block until `count` calls of `method` match, or fail the test."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                matching = [c for c in self.calls if c.method == method and predicate(c)]
                if len(matching) >= count:
                    return matching
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(c.method, str(c.params.get("text", ""))[:60]) for c in self.calls[-10:]]
                    raise AssertionError(f"no {count} x {method} within {timeout}s; last calls: {seen}")
                self._cond.wait(remaining)

    def mark_processed(self, update_id: int) -> None:
        """Called by the bot under test once it has finished handling an update (tests/helpers.started)."""
        with self._cond:
            self._processed.add(update_id)
            self._cond.notify_all()

    def wait_processed(self, update_ids: list[int], timeout: float = 60.0) -> None:
        """Block until the bot has finished handling all these updates, or fail the test. Everything its
        handlers send for an update is sent by then (background jobs such as a reindex may still run),
        so "no reply" can be asserted without sleeping."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while missing := [u for u in update_ids if u not in self._processed]:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"updates {missing[:10]} not processed within {timeout}s")
                self._cond.wait(remaining)

    def texts(self, chat_id: int | None = None) -> list[str]:
        """Texts the bot sent (sendMessage), optionally to one chat."""
        return [
            str(c.params.get("text"))
            for c in self.calls_to("sendMessage")
            if chat_id is None or c.params.get("chat_id") == chat_id
        ]

    # -- the server ----------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                prefix = f"/file/bot{fake.token}/"
                path = urllib.parse.unquote(self.path)
                if path.startswith(prefix) and path[len(prefix) :] in fake.files:
                    self._send(200, fake.files[path[len(prefix) :]], "application/octet-stream")
                else:
                    self._send(404, f"not found: {self.path}".encode(), "text/plain")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                prefix = f"/bot{fake.token}/"
                self.path = urllib.parse.unquote(self.path)
                if not self.path.startswith(prefix):
                    self._json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                    return
                method = self.path[len(prefix) :]
                if fake._drops.get(method):
                    fake._drops[method] -= 1
                    with fake._cond:
                        fake.calls.append(Call(method + ":dropped", {}))
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                params, files = _parse(self.headers.get("Content-Type", ""), body)
                status, payload = fake._dispatch(method, params, files)
                self._json(status, payload)

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                self._send(status, json.dumps(payload).encode(), "application/json")

            def _send(self, status: int, data: bytes, content_type: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler

    def _dispatch(
        self, method: str, params: dict[str, Any], files: dict[str, bytes]
    ) -> tuple[int, dict[str, Any]]:
        failures = self._failures.get(method)
        if failures:
            status, body = failures.pop(0)
            with self._cond:
                self.calls.append(Call(method + ":failed", params, files))
                self._cond.notify_all()
            payload: dict[str, Any] = {
                "ok": False,
                "error_code": status,
                "description": body.pop("description", "fail"),
            }
            if body:
                payload["parameters"] = body
            return status, payload
        if method == "getUpdates":
            return 200, {"ok": True, "result": self._get_updates(params)}
        result = self._result(method, params)
        with self._cond:
            self.calls.append(Call(method, params, files, result=result))
            self._cond.notify_all()
        return 200, {"ok": True, "result": result}

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        with self._cond:
            while True:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                if self._updates or self._stopping:
                    return list(self._updates)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(min(remaining, 0.5))

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        now = int(time.time())
        if method == "getMe":
            return {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Footnote",
                "username": BOT_USERNAME,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": True,
            }
        if method in {"sendMessage", "editMessageText", "sendDocument"}:
            chat_id = params.get("chat_id", 1)
            message: dict[str, Any] = {
                "message_id": params.get("message_id") or next(self._next_message_id),
                "date": now,
                "chat": {
                    "id": chat_id,
                    "type": "private" if isinstance(chat_id, int) and chat_id > 0 else "group",
                },
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Footnote", "username": BOT_USERNAME},
            }
            if "text" in params:
                message["text"] = params["text"]
            if params.get("message_thread_id") is not None:
                message["message_thread_id"] = params["message_thread_id"]
                message["is_topic_message"] = True
                message["chat"]["is_forum"] = True
            if method == "sendDocument":
                message["document"] = {"file_id": "sent", "file_unique_id": "sent", "file_name": "export"}
            return message
        if method == "getFile":
            file_id = params["file_id"]
            return {
                "file_id": file_id,
                "file_unique_id": file_id,
                "file_size": len(self.files.get(file_id, b"")),
                "file_path": file_id,
            }
        return True


def _parse(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Decode a Bot API request body; JSON-looking values (ids, markup, booleans) are decoded."""
    params: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    if content_type.startswith("application/json"):
        params = json.loads(body or b"{}")
    elif content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename():
                files[str(name)] = payload
            else:
                params[str(name)] = payload.decode()
    else:
        params = {k: v for k, v in urllib.parse.parse_qsl(body.decode())}
    for key, value in list(params.items()):
        if isinstance(value, str) and key != "text":
            with contextlib.suppress(json.JSONDecodeError):
                params[key] = json.loads(value)
    return params, files
