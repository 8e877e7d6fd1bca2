"""A local stand-in for the Discord API, so the real discord.py bot can be tested offline.

Tests need to drive an unmodified discord.py client end to end: login, the gateway,
command sync, interactions and their 3-second deadline, followups, rate limits, reconnects.
Mocking discord.py's objects would test our assumptions about Discord instead of the
bot, so this module plays Discord's part over real HTTP and WebSocket on 127.0.0.1.

How it runs: an aiohttp app (REST under ``/api/v10``, the gateway at ``/gateway``) serves on
its own event loop in a background thread. Every public method is synchronous and
bounded by a timeout, so plain pytest tests can use it. State that both threads touch is
guarded by one ``threading.Condition``; the loop thread changes it, the test thread reads it
and waits on it.

What it deliberately emulates because bots break on it in production (see
/work/shared/docs/discord-protocol.md):

- complete payloads (a missing key in a dispatched event kills discord.py's connection);
- ``Content-Type: application/json`` exactly, and Discord's JSON error bodies;
- the 3-second deadline for the first interaction callback (404, code 10062);
- followups only after a callback; the first followup after a deferral edits the
  "thinking" message and keeps the ephemeral flag chosen when deferring;
- message events filtered by gateway intents, and message content blanked without the
  message content intent (except DMs, mentions and the bot's own messages);
- the bot's own messages echoed back as MESSAGE_CREATE, as Discord does;
- RESUME replays the events the client missed.

What it does not do: permission enforcement on REST routes, rate-limit headers (only
injected 429s), zlib/zstd compression (text frames are valid for discord.py), sharding.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import WSMsgType, web
from multidict import CIMultiDict

log = logging.getLogger(__name__)

# Permission bits (https://discord.com/developers/docs/topics/permissions).
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_APPLICATION_COMMANDS = 1 << 31
ALL_PERMISSIONS = (1 << 53) - 1
EVERYONE_PERMISSIONS = (
    VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY
    | ADD_REACTIONS | USE_APPLICATION_COMMANDS
)
BOT_PERMISSIONS = EVERYONE_PERMISSIONS

# Gateway intents that decide which message events a bot receives.
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15

EPHEMERAL = 1 << 6  # message flag
LOADING = 1 << 7  # message flag of a deferred "thinking" response

DISCORD_EPOCH_MS = 1_420_070_400_000
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024

# Ids of the sample guild used by the fixtures; fixed so tests can name them.
APPLICATION_ID = 1_200_000_000_000_000_001
BOT_USER_ID = APPLICATION_ID
GUILD_ID = 1_200_000_000_000_000_100
CHANNEL_ID = 1_200_000_000_000_000_200
EDITOR_ROLE_ID = 1_200_000_000_000_000_400


# --------------------------------------------------------------------------------------
# The world the bot sees


@dataclass(frozen=True)
class User:
    """A Discord user; ``bot`` marks bot accounts (their messages should be ignored)."""

    id: int
    username: str
    bot: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.username,
            "global_name": None if self.bot else self.username.title(),
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
        }

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass(frozen=True)
class Role:
    id: int
    name: str
    permissions: int = 0
    position: int = 1
    managed: bool = False


@dataclass(frozen=True)
class Channel:
    """A guild channel; type 0 is a text channel."""

    id: int
    name: str
    type: int = 0


@dataclass(frozen=True)
class Member:
    user: User
    roles: Sequence[int] = ()


@dataclass(frozen=True)
class Guild:
    """A guild as the bot sees it in GUILD_CREATE. The @everyone role is implied."""

    id: int
    name: str
    members: Sequence[Member] = ()
    roles: Sequence[Role] = ()
    channels: Sequence[Channel] = ()
    owner_id: int | None = None  # defaults to the first member

    @property
    def owner(self) -> int:
        return self.owner_id if self.owner_id is not None else self.members[0].user.id

    @property
    def everyone(self) -> Role:
        for role in self.roles:
            if role.id == self.id:
                return role
        return Role(id=self.id, name="@everyone", permissions=EVERYONE_PERMISSIONS, position=0)

    def member(self, user_id: int) -> Member | None:
        return next((m for m in self.members if m.user.id == user_id), None)

    def channel(self, channel_id: int) -> Channel | None:
        return next((c for c in self.channels if c.id == channel_id), None)

    def permissions_of(self, user_id: int) -> int:
        """Guild-level permissions, computed the way Discord does (owner and admins get all)."""
        if user_id == self.owner:
            return ALL_PERMISSIONS
        member = self.member(user_id)
        granted = self.everyone.permissions
        for role in self.roles:
            if member is not None and role.id in member.roles:
                granted |= role.permissions
        return ALL_PERMISSIONS if granted & ADMINISTRATOR else granted


EDITOR = User(id=1_200_000_000_000_000_300, username="editor")
READER = User(id=1_200_000_000_000_000_301, username="reader")


def sample_guild() -> Guild:
    """One guild with an owner who may manage it (EDITOR) and a plain member (READER)."""
    return Guild(
        id=GUILD_ID,
        name="Newsroom",
        owner_id=EDITOR.id,
        roles=[Role(EDITOR_ROLE_ID, "Editors", permissions=ADMINISTRATOR | MANAGE_GUILD)],
        channels=[Channel(CHANNEL_ID, "news")],
        members=[Member(EDITOR, roles=[EDITOR_ROLE_ID]), Member(READER)],
    )


# --------------------------------------------------------------------------------------
# What tests get back


@dataclass(frozen=True)
class RecordedFile:
    """One file part of a multipart/form-data request."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class RecordedRequest:
    """A request the bot made. ``path`` is relative to ``api_url`` (``/channels/1/messages``);
    ``json`` is the JSON body, or the ``payload_json`` part of a multipart body."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: Mapping[str, str]  # case-insensitive
    files: list[RecordedFile]
    status: int = 0
    response: Any = None
    at: float = 0.0  # time.monotonic() when it was answered


@dataclass(frozen=True)
class SentMessage:
    """Something the bot posted, as it ended up after the request.

    ``kind``: "response" (callback type 4), "update" (callback type 7), "followup",
    "edit" (of an interaction response or a channel message) or "channel".
    """

    kind: str
    message_id: str
    channel_id: str
    content: str
    embeds: list[dict[str, Any]]
    components: list[dict[str, Any]]
    flags: int
    allowed_mentions: dict[str, Any] | None
    attachments: list[str]
    interaction_id: str | None = None
    reply_to: str | None = None

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def text(self) -> str:
        """Content plus embed titles, descriptions and fields: what a reader would see."""
        parts = [self.content]
        for embed in self.embeds:
            parts += [embed.get("title") or "", embed.get("description") or ""]
            for embed_field in embed.get("fields") or []:
                parts += [embed_field.get("name") or "", embed_field.get("value") or ""]
            parts.append((embed.get("footer") or {}).get("text") or "")
        return "\n".join(p for p in parts if p)


@dataclass(frozen=True)
class StoredFile:
    """A file the stand-in serves, e.g. as the URL of an attachment option."""

    id: int
    filename: str
    content_type: str
    data: bytes
    url: str

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "filename": self.filename,
            "size": len(self.data),
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
        }


@dataclass(frozen=True)
class Interaction:
    """Handle on a dispatched interaction, to wait for what the bot did with it."""

    id: str
    token: str
    payload: dict[str, Any]
    standin: DiscordStandIn = field(repr=False)

    def wait_for_callback(self, timeout: float = 5.0) -> RecordedRequest:
        """The first callback request (its ``status`` says whether it was accepted)."""
        return self.standin.wait_for_request(
            ("POST", rf"^/interactions/{self.id}/[^/]+/callback$"), timeout=timeout
        )

    def replies(self) -> list[SentMessage]:
        return [m for m in self.standin.messages_sent() if m.interaction_id == self.id]

    def wait_for_reply(self, timeout: float = 10.0) -> SentMessage:
        """The first message with content the bot posted for this interaction."""
        kinds = ("response", "update", "followup", "edit")
        return self.standin.wait_for_message(
            lambda m: m.interaction_id == self.id and m.kind in kinds, timeout=timeout
        )


@dataclass
class _InteractionState:
    id: str
    type: int
    token: str
    channel_id: str
    source_message_id: str | None = None  # the message a component belongs to
    dispatched_at: float | None = None
    acknowledged: bool = False
    original_id: str | None = None
    loading: bool = False


@dataclass
class _Failure:
    method: str
    pattern: re.Pattern[str]
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class _Reply:
    status: int = 200
    body: Any = None
    events: list[dict[str, Any]] = field(default_factory=list)  # MESSAGE_CREATE echoes
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, code: int, message: str) -> _Reply:
    return _Reply(status, {"message": message, "code": code})


def _not_found() -> _Reply:
    return _error(404, 0, "404: Not Found")


def _unknown_interaction() -> _Reply:
    return _error(404, 10062, "Unknown interaction")


def _unknown_webhook() -> _Reply:
    return _error(404, 10015, "Unknown Webhook")


def _unknown_message() -> _Reply:
    return _error(404, 10008, "Unknown Message")


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


# Callback types each interaction type accepts: 4 message, 5 deferred message, 6 deferred
# update, 7 update the component's message, 8 autocomplete choices, 9 modal.
_CALLBACK_TYPES = {2: (4, 5, 9), 3: (4, 5, 6, 7, 9), 4: (8,), 5: (4, 5, 6, 7)}

_ROUTES: list[tuple[str, re.Pattern[str], Callable[..., _Reply]]] = []


def _route(methods: str, pattern: str) -> Callable[[Callable[..., _Reply]], Callable[..., _Reply]]:
    """Register a REST handler for ``methods`` ("GET|PATCH") on a path regex (full match)."""

    def register(handler: Callable[..., _Reply]) -> Callable[..., _Reply]:
        for method in methods.split("|"):
            _ROUTES.append((method, re.compile(pattern), handler))
        return handler

    return register


# --------------------------------------------------------------------------------------
# The stand-in


class DiscordStandIn:
    """Discord's REST API and gateway on 127.0.0.1, for one bot application.

    Use as ``with DiscordStandIn(guilds=[sample_guild()]) as standin: ...`` and point the
    bot at ``standin.api_url`` / ``standin.gateway_url`` (see tests/launch_bot.py).
    """

    def __init__(
        self,
        *,
        token: str = "test-token",
        guilds: Sequence[Guild] = (),
        bot_user_id: int = BOT_USER_ID,
        application_id: int = APPLICATION_ID,
        bot_name: str = "newsdesk",
        heartbeat_interval_ms: int = 1000,
        interaction_deadline: float = 3.0,
        echo_bot_messages: bool = True,
        click_delay: float = 0.3,
    ) -> None:
        self.token = token
        self.guilds = list(guilds)
        self.bot_user = User(id=bot_user_id, username=bot_name, bot=True)
        self.application_id = application_id
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.interaction_deadline = interaction_deadline
        self.echo_bot_messages = echo_bot_messages
        self.click_delay = click_delay

        self._cond = threading.Condition()
        self._ids = itertools.count()
        self._last_id = 0
        self._requests: list[RecordedRequest] = []
        self._sent: list[SentMessage] = []
        self._staged: list[SentMessage] = []  # by the request being handled, until it is recorded
        self._written_at: dict[str, float] = {}  # message id -> when the bot last wrote it
        self._messages: dict[str, dict[str, Any]] = {}
        self._interactions: dict[str, _InteractionState] = {}
        self._commands: dict[int | None, list[dict[str, Any]]] = {}
        self._files: dict[int, StoredFile] = {}
        self._dm_channels: dict[int, int] = {}  # user id -> DM channel id
        self._failures: list[_Failure] = []
        self.gateway_connections: list[str] = []  # path?query of every gateway connection
        self.identify_count = 0
        self.resume_count = 0
        self.intents = 0
        self._ready = False
        self._session_id: str | None = None
        self._seq = 0
        self._events: list[dict[str, Any]] = []  # this session's dispatches, for RESUME
        self._ws: web.WebSocketResponse | None = None  # the live session's connection
        self._sockets: set[web.WebSocketResponse] = set()

        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._gateway_lock: asyncio.Lock | None = None
        self.port = 0

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        """A different path from ``gateway_url``, to prove the client used the one from READY."""
        return f"ws://127.0.0.1:{self.port}/gateway/resume"

    def start(self, timeout: float = 10.0) -> DiscordStandIn:
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="discord-standin", daemon=True
        )
        self._thread.start()
        if not started.wait(timeout) or not self.port:
            raise RuntimeError("the Discord stand-in did not start")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is None or self._thread is None:
            return
        if self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> DiscordStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self, started: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve(started))
        finally:
            started.set()  # if serving failed, let start() report it at once
            self._loop.close()

    async def _serve(self, started: threading.Event) -> None:
        self._stopping = asyncio.Event()
        self._gateway_lock = asyncio.Lock()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway/resume", self._gateway)
        app.router.add_get("/attachments/{id}/{name}", self._attachment)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        runner = web.AppRunner(app, shutdown_timeout=2.0, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        started.set()
        try:
            await self._stopping.wait()
        finally:
            for ws in list(self._sockets):
                await ws.close(code=1001, message=b"stand-in stopping")
            await runner.cleanup()

    def _call(self, coro: Any, timeout: float = 10.0) -> Any:
        """Run a coroutine on the stand-in's loop from the test thread."""
        if self._loop is None:
            raise RuntimeError("the Discord stand-in is not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # -- waiting and inspecting (test thread) ---------------------------------------------

    def _wait(self, find: Callable[[], Any], timeout: float, what: str) -> Any:
        with self._cond:
            found = self._cond.wait_for(find, timeout)
        if not found:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}\n{self.describe()}")
        return found

    def describe(self) -> str:
        """The recorded traffic, one line per request, for timeout messages."""
        with self._cond:
            lines = [f"  {r.method} {r.path} -> {r.status}" for r in self._requests]
            return "requests so far:\n" + ("\n".join(lines) or "  (none)")

    def wait_until_ready(self, timeout: float = 10.0) -> None:
        """Wait until a client has identified (or resumed) and got READY and GUILD_CREATE."""
        self._wait(lambda: self._ready, timeout, "the bot to connect to the gateway")

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._cond:
            return list(self._requests)

    def wait_for_requests(
        self,
        match: tuple[str, str] | Callable[[RecordedRequest], bool],
        count: int = 1,
        timeout: float = 5.0,
    ) -> list[RecordedRequest]:
        """Wait until ``count`` recorded requests match; return all that match so far.

        ``match`` is a predicate or ``(method, path_regex)``; the regex uses ``re.search``.
        """
        predicate = _matcher(match)

        def find() -> list[RecordedRequest]:
            found = [r for r in self._requests if predicate(r)]
            return found if len(found) >= count else []

        return self._wait(find, timeout, f"{count} request(s) matching {match!r}")

    def wait_for_request(
        self,
        match: tuple[str, str] | Callable[[RecordedRequest], bool],
        timeout: float = 5.0,
    ) -> RecordedRequest:
        """The first recorded request that matches, waiting for it if needed."""
        return self.wait_for_requests(match, 1, timeout)[0]

    def messages_sent(self) -> list[SentMessage]:
        """Everything the bot posted or edited since the start, in order."""
        with self._cond:
            return list(self._sent)

    def wait_for_message(
        self, predicate: Callable[[SentMessage], bool] | None = None, timeout: float = 10.0
    ) -> SentMessage:
        """The first message (since the start) the bot posted that satisfies ``predicate``."""
        check = predicate or (lambda m: True)
        return self._wait(
            lambda: next((m for m in self._sent if check(m)), None), timeout, "a message"
        )

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """The application commands the bot registered, globally or for one guild."""
        with self._cond:
            return list(self._commands.get(guild_id, []))

    def message(self, message_id: str | int) -> dict[str, Any] | None:
        """The current state of a message the stand-in knows (sent by the bot or a user)."""
        with self._cond:
            return self._messages.get(str(message_id))

    # -- controlling the server (test thread) ---------------------------------------------

    def fail_next(
        self,
        method: str,
        path_regex: str,
        *,
        status: int = 429,
        retry_after: float = 0.2,
        is_global: bool = False,
        code: int = 0,
        message: str | None = None,
    ) -> None:
        """Answer the next matching request with an error instead of handling it.

        A 429 carries the ``Via`` header and ``{retry_after, global}`` body that discord.py
        needs to retry; anything else gets Discord's ``{message, code}`` error body. Avoid
        5xx unless you mean it: discord.py retries those after sleeping 1, 3, 5... seconds.
        """
        if status == 429:
            body: dict[str, Any] = {
                "message": message or "You are being rate limited.",
                "retry_after": retry_after,
                "global": is_global,
            }
            headers = {
                "Via": "1.1 google",
                "Retry-After": str(max(1, round(retry_after))),
                "X-RateLimit-Scope": "global" if is_global else "user",
            }
        else:
            body = {"message": message or f"{status}: Injected failure", "code": code}
            headers = {}
        failure = _Failure(method.upper(), re.compile(path_regex), status, body, headers)
        with self._cond:
            self._failures.append(failure)

    def add_file(
        self, filename: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> StoredFile:
        """Serve ``data`` at a URL on the stand-in (the CDN of attachments)."""
        file_id = self._new_id()
        url = f"{self.base_url}/attachments/{file_id}/{quote(filename)}"
        stored = StoredFile(file_id, filename, content_type, bytes(data), url)
        with self._cond:
            self._files[file_id] = stored
        return stored

    def reconnect(self, *, wait: bool = True, timeout: float = 10.0) -> None:
        """Send op 7 RECONNECT; the client should come back on ``resume_gateway_url`` and
        RESUME. With ``wait``, return once it has (see ``resume_count``)."""
        with self._cond:
            self._ready = False
        self._call(self._send_reconnect())
        if wait:
            self.wait_until_ready(timeout)

    # -- gateway events (test thread) -----------------------------------------------------

    def send_interaction(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        guild_id: int | None = None,
        user: User | None = None,
        channel_id: int | None = None,
        permissions: str | int | None = None,
        locale: str = "en-US",
    ) -> Interaction:
        """Dispatch a slash command (type 2) as if ``user`` ran it; ``guild_id=None`` is a DM.

        ``name`` may name a subcommand: "admin ingest". Option types come from the
        registered command, else from the Python type (str, int, float, bool, ``User``,
        ``Channel``, ``Role``, ``StoredFile`` for attachments). ``permissions`` overrides the
        member's permissions, which are otherwise computed from the guild's roles.
        """
        return self._send_command(
            2, name, options or {}, guild_id, user, channel_id, permissions, locale
        )

    def send_autocomplete(
        self,
        name: str,
        options: dict[str, Any],
        focused: str,
        *,
        guild_id: int | None = None,
        user: User | None = None,
        channel_id: int | None = None,
        locale: str = "en-US",
    ) -> Interaction:
        """Dispatch an autocomplete request (type 4) with ``focused`` as the typed option.
        The choices come back in ``interaction.wait_for_callback().json["data"]["choices"]``."""
        return self._send_command(
            4, name, options, guild_id, user, channel_id, None, locale, focused=focused
        )

    def send_attachment_interaction(
        self,
        name: str,
        *,
        filename: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        option: str = "file",
        options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Interaction:
        """A slash command whose ``option`` is an uploaded file served by the stand-in."""
        stored = self.add_file(filename, data, content_type)
        return self.send_interaction(name, {**(options or {}), option: stored}, **kwargs)

    def send_component_interaction(
        self,
        custom_id: str,
        message_id: str | int,
        *,
        user: User | None = None,
        guild_id: int | None = None,
        component_type: int = 2,
        values: Sequence[str] | None = None,
        locale: str = "en-US",
    ) -> Interaction:
        """Dispatch a button click or select (type 3) on a message the bot sent.

        The guild comes from the message's channel unless ``guild_id`` is given. The click
        comes at least ``click_delay`` seconds after the bot wrote the message, as a human's
        would: discord.py registers a view only after it has read the response that created
        the message, so an instant click could arrive first and be dropped.
        """
        source = self.message(message_id)
        if source is None:
            raise KeyError(f"the stand-in knows no message {message_id}")
        with self._cond:
            written_at = self._written_at.get(str(message_id), 0.0)
        time.sleep(max(0.0, written_at + self.click_delay - time.monotonic()))
        channel_id = int(source["channel_id"])
        if guild_id is None:
            guild = self._guild_of_channel(channel_id)
            guild_id = guild.id if guild else None
        payload = self._interaction_base(3, guild_id, user, channel_id, None, locale)
        payload["message"] = source
        payload["data"] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            payload["data"]["values"] = list(values)
        return self._dispatch_interaction(payload, source_message_id=str(source["id"]))

    def send_message(
        self,
        content: str,
        *,
        channel_id: int | None = None,
        guild_id: int | None = None,
        author: User | None = None,
        mentions: Sequence[User] = (),
        attachments: Sequence[StoredFile] = (),
    ) -> dict[str, Any]:
        """Dispatch MESSAGE_CREATE as if ``author`` wrote ``content``; returns the message.

        Without ``guild_id`` or a guild ``channel_id`` this is a DM to the bot. As on
        Discord, mentions come from the text: ``mentions`` missing from ``content`` are
        prepended, and known users written as ``<@id>`` count as mentioned. Nothing is
        delivered without the matching intent, and guild message content is blanked
        without the message content intent unless the bot is mentioned.
        """
        if channel_id is not None and guild_id is None:
            guild = self._guild_of_channel(channel_id)
            guild_id = guild.id if guild else None
        guild = self._guild(guild_id) if guild_id is not None else None
        author = author or self._default_user(guild)
        if guild is not None and channel_id is None:
            channel_id = next(c.id for c in guild.channels if c.type == 0)
        if guild is None and channel_id is None:
            channel_id = self._dm_channel(author.id)
        for user in reversed(mentions):
            if user.mention not in content:
                content = f"{user.mention} {content}"
        known = [*mentions, self.bot_user, *(m.user for g in self.guilds for m in g.members)]
        mentions = list(dict.fromkeys(u for u in known if u.mention in content))
        message = self._message_payload(
            {"content": content}, channel_id=str(channel_id), author=author, files=()
        )
        message["attachments"] = [stored.payload() for stored in attachments]
        message["mentions"] = [self._mention_payload(u, guild) for u in mentions]
        with self._cond:
            self._messages[message["id"]] = message
        event = dict(message)
        if guild is not None:
            event["guild_id"] = str(guild.id)
            event["member"] = self._member_payload(guild, author, with_user=False)
        self._call(self._dispatch_message(event, mentioned=self.bot_user in mentions))
        return message

    # -- payload builders -----------------------------------------------------------------

    def _new_id(self) -> int:
        """A snowflake with the current time in it, unique and increasing."""
        with self._cond:
            now = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
            self._last_id = max(now | (next(self._ids) & 0xFFF), self._last_id + 1)
            return self._last_id

    def _guild(self, guild_id: int) -> Guild:
        for guild in self.guilds:
            if guild.id == int(guild_id):
                return guild
        raise KeyError(f"the stand-in has no guild {guild_id}")

    def _guild_of_channel(self, channel_id: int) -> Guild | None:
        return next((g for g in self.guilds if g.channel(int(channel_id))), None)

    def _default_user(self, guild: Guild | None) -> User:
        """The first member who is not the owner: the ordinary user of most tests."""
        for candidate in [guild] if guild else self.guilds:
            for member in candidate.members:
                if member.user.id != candidate.owner and not member.user.bot:
                    return member.user
        return READER

    def _dm_channel(self, user_id: int) -> int:
        """The bot's DM channel with a user: one per user, like Discord."""
        with self._cond:  # a reentrant lock: _new_id takes it too
            if user_id not in self._dm_channels:
                self._dm_channels[user_id] = self._new_id()
            return self._dm_channels[user_id]

    def _dm_channel_payload(self, channel_id: int, user: User) -> dict[str, Any]:
        return {
            "id": str(channel_id),
            "type": 1,
            "last_message_id": None,
            "flags": 0,
            "recipients": [user.payload()],
        }

    def _user(self, user_id: int) -> User | None:
        if user_id == self.bot_user.id:
            return self.bot_user
        for guild in self.guilds:
            member = guild.member(user_id)
            if member is not None:
                return member.user
        return None

    def _role_payloads(self, guild: Guild) -> list[dict[str, Any]]:
        roles = [guild.everyone, *[r for r in guild.roles if r.id != guild.id]]
        roles.append(Role(self._bot_role_id(guild), self.bot_user.username, BOT_PERMISSIONS,
                          managed=True))
        payloads = []
        for role in roles:
            payload = {
                "id": str(role.id),
                "name": role.name,
                "permissions": str(role.permissions),
                "position": role.position,
                "color": 0,
                "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
                "hoist": False,
                "managed": role.managed,
                "mentionable": False,
                "icon": None,
                "unicode_emoji": None,
                "flags": 0,
            }
            if role.managed:
                payload["tags"] = {"bot_id": str(self.bot_user.id)}
            payloads.append(payload)
        return payloads

    def _bot_role_id(self, guild: Guild) -> int:
        return guild.id + 1

    def _channel_payload(self, guild: Guild, channel: Channel) -> dict[str, Any]:
        return {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(guild.id),
            "name": channel.name,
            "position": guild.channels.index(channel),
            "permission_overwrites": [],
            "topic": None,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": None,
            "flags": 0,
        }

    def _member_payload(
        self, guild: Guild, user: User, *, with_user: bool = True, permissions: int | None = None
    ) -> dict[str, Any]:
        if user.id == self.bot_user.id:
            roles = [self._bot_role_id(guild)]
        else:
            member = guild.member(user.id)
            roles = list(member.roles) if member else []
        payload: dict[str, Any] = {
            "roles": [str(r) for r in roles],
            "nick": None,
            "avatar": None,
            "banner": None,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if with_user:
            payload["user"] = user.payload()
        if permissions is not None:
            payload["permissions"] = str(permissions)
        return payload

    def _mention_payload(self, user: User, guild: Guild | None) -> dict[str, Any]:
        payload = user.payload()
        if guild is not None:
            payload["member"] = self._member_payload(guild, user, with_user=False)
        return payload

    def _guild_create(self, guild: Guild) -> dict[str, Any]:
        members = [self._member_payload(guild, m.user) for m in guild.members]
        members.append(self._member_payload(guild, self.bot_user))
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner),
            "unavailable": False,
            "large": False,
            "lazy": True,
            "member_count": len(members),
            "joined_at": "2024-01-01T00:00:00+00:00",
            "roles": self._role_payloads(guild),
            "channels": [self._channel_payload(guild, c) for c in guild.channels],
            "members": members,
            "threads": [],
            "presences": [],
            "voice_states": [],
            "emojis": [],
            "stickers": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "features": [],
            "preferred_locale": "en-US",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "nsfw": False,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "vanity_url_code": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "application_id": None,
            "widget_enabled": False,
        }

    def _ready_payload(self) -> dict[str, Any]:
        return {
            "v": 10,
            "user": {**self.bot_user.payload(), "verified": True, "mfa_enabled": False,
                     "flags": 0},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in self.guilds],
            "session_id": self._session_id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "_trace": ["discord-standin"],
        }

    def _application_payload(self) -> dict[str, Any]:
        owner = next((self._user(g.owner) for g in self.guilds), None) or EDITOR
        return {
            "id": str(self.application_id),
            "name": self.bot_user.username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": 0,
            "owner": owner.payload(),
            "team": None,
            "bot": self.bot_user.payload(),
            "rpc_origins": [],
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
        }

    def _interaction_base(
        self,
        kind: int,
        guild_id: int | None,
        user: User | None,
        channel_id: int | None,
        permissions: str | int | None,
        locale: str,
    ) -> dict[str, Any]:
        """The fields every INTERACTION_CREATE carries, in a guild or in the bot's DM."""
        interaction_id = self._new_id()
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "token": f"standin-{interaction_id}-{uuid.uuid4().hex}",
            "version": 1,
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
        }
        if guild_id is not None:
            guild = self._guild(guild_id)
            user = user or self._default_user(guild)
            channel = guild.channel(channel_id) if channel_id else guild.channels[0]
            if channel is None:
                raise KeyError(f"guild {guild_id} has no channel {channel_id}")
            granted = guild.permissions_of(user.id) if permissions is None else int(permissions)
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                channel_id=str(channel.id),
                channel=self._channel_payload(guild, channel),
                member=self._member_payload(guild, user, permissions=granted),
                app_permissions=str(guild.permissions_of(self.bot_user.id) | BOT_PERMISSIONS),
                authorizing_integration_owners={"0": str(guild.id)},
                context=0,
            )
        else:
            user = user or self._default_user(None)
            dm_id = channel_id or self._dm_channel(user.id)
            payload.update(
                channel_id=str(dm_id),
                channel=self._dm_channel_payload(dm_id, user),
                user=user.payload(),
                app_permissions=str(BOT_PERMISSIONS),
                authorizing_integration_owners={"0": "0"},
                context=1,
            )
        return payload

    def _send_command(
        self,
        kind: int,
        name: str,
        options: dict[str, Any],
        guild_id: int | None,
        user: User | None,
        channel_id: int | None,
        permissions: str | int | None,
        locale: str,
        *,
        focused: str | None = None,
    ) -> Interaction:
        payload = self._interaction_base(kind, guild_id, user, channel_id, permissions, locale)
        root, *path = name.split()
        command, scope = self._find_command(root, guild_id)
        if command is None:
            log.warning("/%s was never registered; Discord would not offer it", root)
        definitions = command.get("options", []) if command else []
        for part in path:
            parent = next((o for o in definitions if o.get("name") == part), {})
            definitions = parent.get("options", [])
        resolved: dict[str, dict[str, Any]] = {}
        guild = self._guild(guild_id) if guild_id is not None else None
        built = [
            self._option(key, value, definitions, resolved, guild, focused == key)
            for key, value in options.items()
        ]
        for depth, part in reversed(list(enumerate(path))):
            built = [{"name": part, "type": 1 if depth == len(path) - 1 else 2,
                      "options": built}]
        data: dict[str, Any] = {
            "id": command["id"] if command else str(self._new_id()),
            "name": root,
            "type": 1,
            "options": built,
        }
        if resolved:
            data["resolved"] = resolved
        if guild_id is not None and (scope is not None or command is None):
            data["guild_id"] = str(guild_id)
        payload["data"] = data
        return self._dispatch_interaction(payload)

    def _find_command(
        self, name: str, guild_id: int | None
    ) -> tuple[dict[str, Any] | None, int | None]:
        """The registered command a user would pick: the guild's first, then the global one."""
        with self._cond:
            scopes = [guild_id, None] if guild_id is not None else [None]
            for scope in scopes:
                for command in self._commands.get(scope, []):
                    if command["name"] == name and command.get("type", 1) == 1:
                        return command, scope
        return None, None

    def _option(
        self,
        name: str,
        value: Any,
        definitions: list[dict[str, Any]],
        resolved: dict[str, dict[str, Any]],
        guild: Guild | None,
        focused: bool,
    ) -> dict[str, Any]:
        """One option in Discord's wire form; snowflake types also fill ``resolved``."""
        declared = next((o.get("type") for o in definitions if o.get("name") == name), None)
        if isinstance(value, StoredFile):
            resolved.setdefault("attachments", {})[str(value.id)] = value.payload()
            option_type, value = 11, str(value.id)
        elif isinstance(value, User):
            resolved.setdefault("users", {})[str(value.id)] = value.payload()
            if guild is not None:
                member = self._member_payload(guild, value, with_user=False,
                                              permissions=guild.permissions_of(value.id))
                resolved.setdefault("members", {})[str(value.id)] = member
            option_type, value = 6, str(value.id)
        elif isinstance(value, Channel):
            channel = {"id": str(value.id), "name": value.name, "type": value.type,
                       "permissions": str(EVERYONE_PERMISSIONS)}
            resolved.setdefault("channels", {})[str(value.id)] = channel
            option_type, value = 7, str(value.id)
        elif isinstance(value, Role):
            role = next(r for g in self.guilds for r in self._role_payloads(g)
                        if r["id"] == str(value.id))
            resolved.setdefault("roles", {})[str(value.id)] = role
            option_type, value = 8, str(value.id)
        elif isinstance(value, bool):
            option_type = 5
        elif isinstance(value, int):
            option_type = 4
        elif isinstance(value, float):
            option_type = 10
        else:
            option_type = 3
        option: dict[str, Any] = {"name": name, "type": declared or option_type, "value": value}
        if focused:
            option["focused"] = True
        return option

    def _dispatch_interaction(
        self, payload: dict[str, Any], source_message_id: str | None = None
    ) -> Interaction:
        state = _InteractionState(
            id=payload["id"],
            type=payload["type"],
            token=payload["token"],
            channel_id=payload["channel_id"],
            source_message_id=source_message_id,
            original_id=source_message_id,  # for a component, @original is its message
        )
        with self._cond:
            self._interactions[state.token] = state
        self._call(self._dispatch("INTERACTION_CREATE", payload))
        return Interaction(payload["id"], payload["token"], payload, self)

    def _message_payload(
        self,
        sent: dict[str, Any],
        *,
        channel_id: str,
        author: User,
        files: Sequence[RecordedFile],
        message_type: int = 0,
        webhook: bool = False,
    ) -> dict[str, Any]:
        """A complete message object built from what was sent (Discord echoes it back)."""
        message: dict[str, Any] = {
            "id": str(self._new_id()),
            "channel_id": channel_id,
            "type": message_type,
            "content": sent.get("content") or "",
            "author": author.payload(),
            "embeds": sent.get("embeds") or [],
            "components": sent.get("components") or [],
            "attachments": self._attachment_payloads(files),
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": bool(sent.get("tts")),
            "flags": int(sent.get("flags") or 0),
            "sticker_items": [],
        }
        if webhook:
            message["webhook_id"] = str(self.application_id)
            message["application_id"] = str(self.application_id)
        reference = sent.get("message_reference")
        if reference:
            message["type"] = 19
            message["message_reference"] = {
                "type": 0,
                "message_id": str(reference.get("message_id")),
                "channel_id": str(reference.get("channel_id") or channel_id),
                **({"guild_id": str(reference["guild_id"])} if reference.get("guild_id") else {}),
            }
        return message

    def _attachment_payloads(self, files: Sequence[RecordedFile]) -> list[dict[str, Any]]:
        payloads = []
        for part in files:
            stored = self.add_file(part.filename or part.field, part.data,
                                   part.content_type or "application/octet-stream")
            payloads.append(stored.payload())
        return payloads

    # -- gateway (event loop thread) -------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._sockets.add(ws)
        with self._cond:
            self.gateway_connections.append(request.path_qs)
        try:
            await self._send(ws, {"op": 10, "s": None, "t": None, "d": {
                "heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["discord-standin"]}})
            async for frame in ws:
                if frame.type is not WSMsgType.TEXT:
                    continue
                message = json.loads(frame.data)
                await self._on_gateway_message(ws, message.get("op"), message.get("d"))
        finally:
            self._sockets.discard(ws)
            with self._cond:
                if self._ws is ws:
                    self._ws = None
                    self._ready = False
                    self._cond.notify_all()
        return ws

    async def _on_gateway_message(self, ws: web.WebSocketResponse, op: int, data: Any) -> None:
        if op == 1:  # heartbeat
            await self._send(ws, {"op": 11, "s": None, "t": None, "d": None})
        elif op == 2:
            await self._identify(ws, data)
        elif op == 6:
            await self._resume(ws, data)
        elif op == 8:  # request guild members: everything in one chunk
            guild = self._guild(int(data["guild_id"]))
            members = [self._member_payload(guild, m.user) for m in guild.members]
            await self._dispatch("GUILD_MEMBERS_CHUNK", {
                "guild_id": str(guild.id), "members": members, "chunk_index": 0,
                "chunk_count": 1, "not_found": [], "nonce": data.get("nonce")})
        # op 3 (presence) and op 4 (voice) need no answer here.

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        if data.get("token") != self.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        assert self._gateway_lock is not None
        async with self._gateway_lock:
            with self._cond:
                self.identify_count += 1
                self.intents = int(data.get("intents") or 0)
                self._session_id = uuid.uuid4().hex
                self._seq = 0
                self._events = []
                self._ws = ws
            await self._dispatch_locked("READY", self._ready_payload())
            for guild in self.guilds:
                await self._dispatch_locked("GUILD_CREATE", self._guild_create(guild))
        with self._cond:
            self._ready = True
            self._cond.notify_all()

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        if data.get("token") != self.token or data.get("session_id") != self._session_id:
            await self._send(ws, {"op": 9, "s": None, "t": None, "d": False})
            return
        assert self._gateway_lock is not None
        async with self._gateway_lock:
            seq = data.get("seq") or 0
            with self._cond:
                self._ws = ws
                missed = [e for e in self._events if e["s"] > seq]
            for event in missed:
                await self._send(ws, event)
            await self._dispatch_locked("RESUMED", {"_trace": ["discord-standin"]})
            with self._cond:
                self.resume_count += 1
                self._ready = True
                self._cond.notify_all()

    async def _send_reconnect(self) -> None:
        ws = self._ws
        if ws is None:
            raise RuntimeError("no gateway connection to reconnect")
        await self._send(ws, {"op": 7, "s": None, "t": None, "d": None})

    async def _send(self, ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        try:
            await ws.send_str(json.dumps(frame))
        except ConnectionError:
            log.debug("gateway frame dropped: the connection is closing")

    async def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        assert self._gateway_lock is not None
        async with self._gateway_lock:
            await self._dispatch_locked(event, data)

    async def _dispatch_locked(self, event: str, data: dict[str, Any]) -> None:
        """Number the event, keep it for RESUME, and send it if a client is connected."""
        with self._cond:
            self._seq += 1
            frame = {"op": 0, "t": event, "s": self._seq, "d": data}
            self._events.append(frame)
            if event == "INTERACTION_CREATE":
                self._interactions[data["token"]].dispatched_at = time.monotonic()
            ws = self._ws
        if ws is not None and not ws.closed:
            await self._send(ws, frame)

    async def _dispatch_message(self, event: dict[str, Any], *, mentioned: bool) -> None:
        """MESSAGE_CREATE, filtered by intents the way Discord filters it."""
        in_guild = "guild_id" in event
        needed = INTENT_GUILD_MESSAGES if in_guild else INTENT_DIRECT_MESSAGES
        if not self.intents & needed:
            log.warning("MESSAGE_CREATE not delivered: the bot lacks intent %s", needed)
            return
        own = event["author"]["id"] == str(self.bot_user.id)
        if in_guild and not (mentioned or own or self.intents & INTENT_MESSAGE_CONTENT):
            event = {**event, "content": "", "embeds": [], "attachments": [], "components": []}
        await self._dispatch("MESSAGE_CREATE", event)

    # -- REST (event loop thread) ----------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        try:
            call = await _read_request(request, path)
        except ValueError:
            call = RecordedRequest(request.method, path, dict(request.query), None,
                                   CIMultiDict(request.headers), [])
            reply: _Reply | None = _error(400, 50109, "The request body contains invalid JSON.")
        else:
            reply = None
        with self._cond:
            reply = (reply or self._injected_failure(call) or self._unauthorized(call)
                     or self._handle(call))
            staged, self._staged = self._staged, []
        for event in reply.events:
            await self._dispatch_message(event, mentioned=False)
        # Published last, so a test that sees the request also sees its gateway echoes.
        with self._cond:
            self._requests.append(dataclasses.replace(
                call, status=reply.status, response=reply.body, at=time.monotonic()))
            self._sent.extend(staged)
            for sent in staged:
                self._written_at[sent.message_id] = time.monotonic()
            self._cond.notify_all()
        headers = dict(reply.headers)
        if reply.body is None:
            return web.Response(status=reply.status, headers=headers)
        headers["Content-Type"] = "application/json"  # exactly: discord.py compares the string
        return web.Response(status=reply.status, body=json.dumps(reply.body).encode(),
                            headers=headers)

    async def _attachment(self, request: web.Request) -> web.Response:
        call = await _read_request(request, request.path)
        with self._cond:
            stored = self._files.get(int(request.match_info["id"]))
            status = 200 if stored else 404
            self._requests.append(dataclasses.replace(call, status=status, at=time.monotonic()))
            self._cond.notify_all()
        if stored is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=stored.data, headers={"Content-Type": stored.content_type})

    def _injected_failure(self, call: RecordedRequest) -> _Reply | None:
        for failure in self._failures:
            if failure.method == call.method and failure.pattern.search(call.path):
                self._failures.remove(failure)
                return _Reply(failure.status, failure.body, headers=failure.headers)
        return None

    def _unauthorized(self, call: RecordedRequest) -> _Reply | None:
        """Interaction callbacks and webhooks authenticate by their token, the rest by header."""
        if call.path.startswith(("/interactions/", "/webhooks/")):
            return None
        if call.headers.get("Authorization") != f"Bot {self.token}":
            return _error(401, 0, "401: Unauthorized")
        return None

    def _handle(self, call: RecordedRequest) -> _Reply:
        for method, pattern, handler in _ROUTES:
            found = pattern.fullmatch(call.path)
            if method == call.method and found:
                try:
                    return handler(self, call, **found.groupdict())
                except Exception:  # a 5xx would make discord.py sleep and retry
                    log.exception("stand-in failed on %s %s", call.method, call.path)
                    return _error(400, 0, "stand-in error: see the test log")
        log.warning("unknown route %s %s answered 404", call.method, call.path)
        return _not_found()

    # login and metadata

    @_route("GET", r"/users/@me")
    def _get_me(self, call: RecordedRequest) -> _Reply:
        return _Reply(200, {**self.bot_user.payload(), "verified": True, "mfa_enabled": False,
                            "flags": 0, "locale": "en-US", "email": None})

    @_route("GET", r"/oauth2/applications/@me")
    def _get_application(self, call: RecordedRequest) -> _Reply:
        return _Reply(200, self._application_payload())

    @_route("GET", r"/gateway(?:/bot)?")
    def _get_gateway(self, call: RecordedRequest) -> _Reply:
        return _Reply(200, {"url": self.gateway_url, "shards": 1, "session_start_limit": {
            "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}})

    @_route("GET", r"/users/(?P<user_id>\d+)")
    def _get_user(self, call: RecordedRequest, user_id: str) -> _Reply:
        user = self._user(int(user_id))
        return _Reply(200, user.payload()) if user else _error(404, 10013, "Unknown User")

    @_route("GET", r"/guilds/(?P<guild_id>\d+)/members/(?P<user_id>\d+)")
    def _get_member(self, call: RecordedRequest, guild_id: str, user_id: str) -> _Reply:
        guild = next((g for g in self.guilds if g.id == int(guild_id)), None)
        user = self._user(int(user_id))
        if guild is None or user is None or not (guild.member(user.id) or user == self.bot_user):
            return _error(404, 10007, "Unknown Member")
        return _Reply(200, self._member_payload(guild, user))

    @_route("POST", r"/users/@me/channels")
    def _create_dm(self, call: RecordedRequest) -> _Reply:
        user = self._user(int((call.json or {}).get("recipient_id", 0)))
        if user is None:
            return _error(400, 50035, "Invalid Form Body")
        return _Reply(200, self._dm_channel_payload(self._dm_channel(user.id), user))

    @_route("GET", r"/channels/(?P<channel_id>\d+)")
    def _get_channel(self, call: RecordedRequest, channel_id: str) -> _Reply:
        guild = self._guild_of_channel(int(channel_id))
        if guild is not None:
            channel = guild.channel(int(channel_id))
            assert channel is not None
            return _Reply(200, self._channel_payload(guild, channel))
        for user_id, dm_id in self._dm_channels.items():
            user = self._user(user_id)
            if dm_id == int(channel_id) and user is not None:
                return _Reply(200, self._dm_channel_payload(dm_id, user))
        return _error(404, 10003, "Unknown Channel")

    # application commands

    @_route("GET|PUT", r"/applications/(?P<app_id>\d+)(?:/guilds/(?P<guild_id>\d+))?/commands")
    def _commands_route(self, call: RecordedRequest, app_id: str, guild_id: str | None) -> _Reply:
        if int(app_id) != self.application_id:
            return _error(404, 10002, "Unknown Application")
        scope = int(guild_id) if guild_id else None
        if call.method == "GET":
            return _Reply(200, self._commands.get(scope, []))
        previous = {c["name"]: c for c in self._commands.get(scope, [])}
        stored = []
        for sent in call.json or []:
            command_id = previous.get(sent["name"], {}).get("id") or str(self._new_id())
            permissions = sent.get("default_member_permissions")
            command = {
                **sent,
                "id": command_id,
                "application_id": str(self.application_id),
                "version": str(self._new_id()),
                "type": sent.get("type", 1),
                "description": sent.get("description", ""),
                "options": sent.get("options") or [],
                "default_member_permissions": None if permissions is None else str(permissions),
                "nsfw": sent.get("nsfw", False),
            }
            if scope is not None:
                command["guild_id"] = str(scope)
            stored.append(command)
        self._commands[scope] = stored
        return _Reply(200, stored)

    # interactions

    @_route("POST", r"/interactions/(?P<interaction_id>\d+)/(?P<token>[^/]+)/callback")
    def _callback(self, call: RecordedRequest, interaction_id: str, token: str) -> _Reply:
        state = self._interactions.get(token)
        if state is None or state.id != interaction_id or state.acknowledged:
            return _unknown_interaction()
        assert state.dispatched_at is not None
        if time.monotonic() - state.dispatched_at > self.interaction_deadline:
            return _unknown_interaction()
        body = call.json or {}
        kind = body.get("type")
        if kind not in _CALLBACK_TYPES.get(state.type, ()):
            return _error(400, 50035, f"Invalid Form Body: callback type {kind} is not "
                                      f"valid for interaction type {state.type}")
        state.acknowledged = True
        data = body.get("data") or {}
        message = None
        reply = _Reply()
        if kind == 4:
            message = self._create_interaction_message(state, data, call, "response", reply)
            state.original_id = message["id"]
        elif kind == 5:  # deferred: a "thinking" message that the first followup replaces
            flags = (int(data.get("flags") or 0) & EPHEMERAL) | LOADING
            message = self._create_interaction_message(
                state, {"flags": flags}, call, None, reply)
            state.original_id = message["id"]
            state.loading = True
        elif kind == 7 and state.source_message_id:
            message = self._edit_message(state.source_message_id, data, call, "update", state.id)
        response_id = message["id"] if message else state.source_message_id
        result: dict[str, Any] = {
            "interaction": {
                "id": state.id,
                "type": state.type,
                "response_message_id": response_id,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(message and message["flags"] & EPHEMERAL),
            },
            "resource": {"type": kind},
        }
        if message is not None:
            result["resource"]["message"] = message
        reply.body = result
        return reply

    def _create_interaction_message(
        self,
        state: _InteractionState,
        data: dict[str, Any],
        call: RecordedRequest,
        kind: str | None,
        reply: _Reply,
    ) -> dict[str, Any]:
        message = self._message_payload(
            data, channel_id=state.channel_id, author=self.bot_user, files=call.files,
            message_type=20, webhook=True,
        )
        self._messages[message["id"]] = message
        if kind is not None:
            self._record_sent(kind, message, data, state.id)
        if self.echo_bot_messages and not message["flags"] & EPHEMERAL:
            reply.events.append(self._message_event(message))
        return message

    def _message_event(self, message: dict[str, Any]) -> dict[str, Any]:
        event = dict(message)
        guild = self._guild_of_channel(int(message["channel_id"]))
        if guild is not None:
            event["guild_id"] = str(guild.id)
            if "webhook_id" not in message:
                event["member"] = self._member_payload(guild, self.bot_user, with_user=False)
        return event

    def _edit_message(
        self,
        message_id: str,
        data: dict[str, Any],
        call: RecordedRequest,
        kind: str,
        interaction_id: str | None,
    ) -> dict[str, Any]:
        """Apply an edit the way Discord does: only the fields that were sent change."""
        message = dict(self._messages[message_id])
        for key in ("content", "embeds", "components"):
            if key in data:
                message[key] = data[key] or ([] if key != "content" else "")
        if "flags" in data:  # only SUPPRESS_EMBEDS can change; ephemeral stays as it was
            message["flags"] = (message["flags"] & ~(1 << 2)) | (int(data["flags"]) & (1 << 2))
        if "attachments" in data or call.files:
            kept = {str(a.get("id")) for a in data.get("attachments") or []}
            old = [a for a in message["attachments"] if a["id"] in kept]
            message["attachments"] = old + self._attachment_payloads(call.files)
        message["edited_timestamp"] = _now_iso()
        self._messages[message_id] = message
        self._record_sent(kind, message, data, interaction_id)
        return message

    def _record_sent(
        self, kind: str, message: dict[str, Any], sent: dict[str, Any], interaction_id: str | None
    ) -> None:
        reference = message.get("message_reference") or {}
        self._staged.append(SentMessage(
            kind=kind,
            message_id=message["id"],
            channel_id=message["channel_id"],
            content=message["content"],
            embeds=message["embeds"],
            components=message["components"],
            flags=message["flags"],
            allowed_mentions=sent.get("allowed_mentions"),
            attachments=[a["filename"] for a in message["attachments"]],
            interaction_id=interaction_id,
            reply_to=reference.get("message_id"),
        ))

    def _webhook_state(self, app_id: str, token: str) -> _InteractionState | None:
        """The interaction behind a followup token; usable only once it was acknowledged."""
        state = self._interactions.get(token)
        if int(app_id) != self.application_id or state is None or not state.acknowledged:
            return None
        return state

    @_route("POST", r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)")
    def _followup(self, call: RecordedRequest, app_id: str, token: str) -> _Reply:
        state = self._webhook_state(app_id, token)
        if state is None:
            return _unknown_webhook()
        data = call.json or {}
        if state.loading and state.original_id:
            # Discord: the first followup after a deferral edits the "thinking" message,
            # and its ephemeral flag is ignored in favour of the one given when deferring.
            state.loading = False
            message = self._messages[state.original_id]
            message["flags"] &= ~LOADING
            reply = _Reply(200, self._edit_message(state.original_id, data, call, "followup",
                                                   state.id))
        else:
            reply = _Reply()
            message = self._create_interaction_message(state, data, call, "followup", reply)
            reply.body = message
        if call.query.get("wait") not in ("1", "true", "True"):
            reply.status, reply.body = 204, None
        return reply

    @_route("GET|PATCH|DELETE",
            r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>@original|\d+)")
    def _webhook_message(
        self, call: RecordedRequest, app_id: str, token: str, message_id: str
    ) -> _Reply:
        state = self._webhook_state(app_id, token)
        if state is None:
            return _unknown_webhook()
        if message_id == "@original":
            message_id = state.original_id or ""
        if message_id not in self._messages:
            return _unknown_message()
        if call.method == "GET":
            return _Reply(200, self._messages[message_id])
        if call.method == "DELETE":
            del self._messages[message_id]
            if message_id == state.original_id:
                # Deleting the "thinking" message ends the deferral: the next followup is a
                # new message, with its own ephemeral flag (discord-api-docs#2739).
                state.loading = False
            return _Reply(204)
        if message_id == state.original_id and state.loading:
            state.loading = False
            self._messages[message_id]["flags"] &= ~LOADING
        return _Reply(200, self._edit_message(message_id, call.json or {}, call, "edit", state.id))

    # channel messages

    def _known_channel(self, channel_id: str) -> bool:
        return bool(self._guild_of_channel(int(channel_id))) or int(
            channel_id) in self._dm_channels.values()

    @_route("POST", r"/channels/(?P<channel_id>\d+)/messages")
    def _create_message(self, call: RecordedRequest, channel_id: str) -> _Reply:
        if not self._known_channel(channel_id):
            return _error(404, 10003, "Unknown Channel")
        data = call.json or {}
        if not (data.get("content") or data.get("embeds") or call.files
                or data.get("components") or data.get("sticker_ids") or data.get("poll")):
            return _error(400, 50006, "Cannot send an empty message")
        message = self._message_payload(data, channel_id=channel_id, author=self.bot_user,
                                        files=call.files)
        self._messages[message["id"]] = message
        self._record_sent("channel", message, data, None)
        reply = _Reply(200, message)
        if self.echo_bot_messages:
            reply.events.append(self._message_event(message))
        return reply

    @_route("GET|PATCH|DELETE", r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)")
    def _channel_message(self, call: RecordedRequest, channel_id: str, message_id: str) -> _Reply:
        message = self._messages.get(message_id)
        if message is None or message["channel_id"] != channel_id:
            return _unknown_message()
        if call.method == "GET":
            return _Reply(200, message)
        if call.method == "DELETE":
            del self._messages[message_id]
            return _Reply(204)
        if message["author"]["id"] != str(self.bot_user.id):
            return _error(403, 50005, "Cannot edit a message authored by another user")
        return _Reply(200, self._edit_message(message_id, call.json or {}, call, "edit", None))

    @_route("POST", r"/channels/(?P<channel_id>\d+)/typing")
    def _typing(self, call: RecordedRequest, channel_id: str) -> _Reply:
        return _Reply(204)

    @_route("PUT|DELETE",
            r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)/reactions/[^/]+/@me")
    def _reaction(self, call: RecordedRequest, channel_id: str, message_id: str) -> _Reply:
        return _Reply(204) if message_id in self._messages else _unknown_message()


def _matcher(
    match: tuple[str, str] | Callable[[RecordedRequest], bool],
) -> Callable[[RecordedRequest], bool]:
    if callable(match):
        return match
    method, path_regex = match
    pattern = re.compile(path_regex)
    return lambda r: r.method == method.upper() and bool(pattern.search(r.path))


async def _read_request(request: web.Request, path: str) -> RecordedRequest:
    """Capture a request; a multipart body's ``payload_json`` part becomes ``.json``."""
    body: Any = None
    files: list[RecordedFile] = []
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            data = bytes(await part.read())  # type: ignore[union-attr]
            if part.name == "payload_json":
                body = json.loads(data)
            else:
                files.append(RecordedFile(
                    field=part.name or "",
                    filename=part.filename,  # type: ignore[union-attr]
                    content_type=part.headers.get("Content-Type"),
                    data=data,
                ))
    elif request.can_read_body:
        text = await request.text()
        body = json.loads(text) if text else None
    return RecordedRequest(
        method=request.method,
        path=path,
        query=dict(request.query),
        json=body,
        headers=CIMultiDict(request.headers),
        files=files,
    )
