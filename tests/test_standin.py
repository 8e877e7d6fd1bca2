"""Self-tests: the real discord.py client, in a subprocess, works against the stand-in.

They run tests/standin_bot.py through tests/launch_bot.py, exactly as the real bot will be
run, so a failure here is a stand-in problem, not a newsdesk one.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.discord_standin import (
    APPLICATION_ID,
    BOT_USER_ID,
    CHANNEL_ID,
    EDITOR,
    EPHEMERAL,
    GUILD_ID,
    READER,
    DiscordStandIn,
)
from tests.standin_fixtures import run_bot, standin  # noqa: F401

LAUNCH_TINY_BOT = {"NEWSDESK_LAUNCH_TARGET": "tests.standin_bot:main"}


@pytest.fixture
def bot(standin, run_bot):  # noqa: F811
    return run_bot(standin, env=LAUNCH_TINY_BOT)


def test_login_ready_and_guild_create(standin, bot):  # noqa: F811
    paths = [r.path for r in standin.requests]
    assert paths[:2] == ["/users/@me", "/oauth2/applications/@me"]
    assert standin.requests[0].headers["Authorization"] == "Bot test-token"
    assert standin.identify_count == 1
    assert standin.gateway_connections[0].startswith("/gateway?v=10&encoding=json")
    # on_ready fires only once the GUILD_CREATE was processed; it logs the guild count.
    assert "in 1 guild(s)" in bot.wait_for_log("ready as newsdesk")


def test_command_sync_is_recorded_and_listed(standin, bot):  # noqa: F811
    sync = standin.wait_for_request(("PUT", rf"^/applications/{APPLICATION_ID}/commands$"))
    sent = {c["name"]: c for c in sync.json}
    assert [o["name"] for o in sent["echo"]["options"]] == ["text", "private"]
    assert sync.status == 200
    stored = standin.commands()
    assert {c["name"] for c in stored} == set(sent)
    assert all(c["application_id"] == str(APPLICATION_ID) and c["id"] for c in stored)


def test_slash_command_in_guild_defers_then_follows_up(standin, bot):  # noqa: F811
    interaction = standin.send_interaction("echo", {"text": "hello"}, guild_id=GUILD_ID)

    callback = interaction.wait_for_callback()
    assert (callback.status, callback.json["type"]) == (200, 5)
    reply = interaction.wait_for_reply()
    assert (reply.kind, reply.content, reply.ephemeral) == ("followup", "echo: hello", False)
    assert reply.channel_id == str(CHANNEL_ID)
    assert bot.alive()


def test_slash_command_in_dm_can_be_private(standin, bot):  # noqa: F811
    interaction = standin.send_interaction("echo", {"text": "psst", "private": True})

    reply = interaction.wait_for_reply()
    assert (reply.content, reply.ephemeral) == ("echo: psst", True)
    assert "guild_id" not in interaction.payload
    assert interaction.payload["channel"]["type"] == 1


def test_dm_message_is_answered_in_the_dm_channel(standin, bot):  # noqa: F811
    message = standin.send_message("hello there", author=READER)

    reply = standin.wait_for_message(lambda m: m.kind == "channel")
    assert (reply.content, reply.channel_id) == ("dm: hello there", message["channel_id"])
    standin.wait_for_request(("POST", rf"^/channels/{message['channel_id']}/messages$"))


def test_only_mentions_are_answered_in_a_guild_channel(standin, bot):  # noqa: F811
    standin.send_message("not for the bot", guild_id=GUILD_ID)
    asked = standin.send_message("what's new?", guild_id=GUILD_ID, mentions=[standin.bot_user])

    reply = standin.wait_for_message(lambda m: m.kind == "channel")
    assert reply.content == "mention: @newsdesk what's new?"
    assert reply.reply_to == asked["id"]
    assert [m.kind for m in standin.messages_sent()] == ["channel"]


def test_late_callback_is_refused_and_the_bot_survives(standin, bot):  # noqa: F811
    late = standin.send_interaction("slow", guild_id=GUILD_ID)

    callback = late.wait_for_callback(timeout=8)
    assert (callback.status, callback.response["code"]) == (404, 10062)
    bot.wait_for_log("expired before we answered")
    assert bot.alive()
    after = standin.send_interaction("echo", {"text": "still here"}, guild_id=GUILD_ID)
    assert after.wait_for_reply().content == "echo: still here"


@pytest.mark.parametrize("route", [r"^/channels/\d+/messages$", r"^/webhooks/\d+/[^/]+$"])
def test_rate_limit_is_retried(standin, bot, route):  # noqa: F811
    standin.fail_next("POST", route, status=429, retry_after=0.2)
    if "channels" in route:
        standin.send_message("hi")
    else:
        standin.send_interaction("echo", {"text": "hi"})

    attempts = standin.wait_for_requests(("POST", route), count=2)
    assert [a.status for a in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 0.2
    assert len(standin.messages_sent()) == 1


def test_reconnect_resumes_the_session(standin, bot):  # noqa: F811
    standin.reconnect()

    assert (standin.identify_count, standin.resume_count) == (1, 1)
    assert standin.gateway_connections[1].startswith("/gateway/resume?")
    reply = standin.send_interaction("echo", {"text": "back"}, guild_id=GUILD_ID).wait_for_reply()
    assert reply.content == "echo: back"


def test_events_sent_during_a_reconnect_are_replayed(standin, bot):  # noqa: F811
    standin.reconnect(wait=False)
    interaction = standin.send_interaction("echo", {"text": "in flight"}, guild_id=GUILD_ID)

    assert interaction.wait_for_reply().content == "echo: in flight"
    assert standin.resume_count == 1
    assert len(interaction.replies()) == 1


def test_bad_token_exits_nonzero_quickly(standin, run_bot):  # noqa: F811
    proc = run_bot(standin, env={**LAUNCH_TINY_BOT, "DISCORD_TOKEN": "wrong"}, wait_ready=False)

    assert proc.wait(timeout=10) != 0
    assert standin.wait_for_request(("GET", "^/users/@me$")).status == 401
    assert standin.identify_count == 0


@pytest.mark.parametrize(
    ("user", "permissions", "answer"),
    [
        (EDITOR, None, "you may manage this server"),
        (READER, None, "not allowed"),
        (EDITOR, "0", "not allowed"),
    ],
)
def test_permission_check_reads_member_permissions(
    standin, bot, user, permissions, answer  # noqa: F811
):
    interaction = standin.send_interaction(
        "manage", guild_id=GUILD_ID, user=user, permissions=permissions
    )

    reply = interaction.wait_for_reply()
    assert (reply.content, reply.ephemeral) == (answer, True)


def test_button_click_updates_the_message(standin, bot):  # noqa: F811
    posted = standin.send_interaction("button", guild_id=GUILD_ID).wait_for_reply()
    assert posted.components[0]["components"][0]["custom_id"] == "standin:click"

    click = standin.send_component_interaction("standin:click", posted.message_id, user=READER)

    update = click.wait_for_reply()
    assert (update.kind, update.content, update.components) == ("update", "clicked by reader", [])
    assert update.message_id == posted.message_id


def test_autocomplete_returns_choices(standin, bot):  # noqa: F811
    typed = standin.send_autocomplete("pick", {"fruit": "ap"}, focused="fruit")

    callback = typed.wait_for_callback()
    assert callback.json["type"] == 8
    assert [c["value"] for c in callback.json["data"]["choices"]] == ["apple", "apricot"]


def test_attachment_option_is_downloaded_from_the_standin(standin, bot):  # noqa: F811
    upload = standin.send_attachment_interaction(
        "size", filename="notes.txt", data=b"hello", content_type="text/plain",
        guild_id=GUILD_ID,
    )

    assert upload.wait_for_reply().content == "notes.txt: 5 bytes"
    assert standin.wait_for_request(("GET", r"^/attachments/\d+/notes.txt$")).status == 200


# Protocol details checked over plain HTTP, without a bot.


def _call(server: DiscordStandIn, method: str, path: str, body=None, token="test-token"):
    """One REST call; returns (status, content type, decoded JSON or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.api_url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bot {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            raw = response.read()
            status, ctype = response.status, response.headers.get("Content-Type")
    except urllib.error.HTTPError as error:
        raw, status, ctype = error.read(), error.code, error.headers.get("Content-Type")
    return status, ctype, json.loads(raw) if raw else None


def test_errors_are_discord_json_with_exact_content_type(standin):  # noqa: F811
    assert _call(standin, "GET", "/no/such/route") == (
        404, "application/json", {"message": "404: Not Found", "code": 0})
    assert _call(standin, "GET", "/users/@me", token="wrong")[0] == 401
    assert standin.requests[-1].status == 401


def test_followup_needs_a_callback_and_inherits_the_deferral(standin):  # noqa: F811
    interaction = standin.send_interaction("echo", {"text": "x"}, guild_id=GUILD_ID)
    followup = f"/webhooks/{APPLICATION_ID}/{interaction.token}?wait=1"
    callback = f"/interactions/{interaction.id}/{interaction.token}/callback?with_response=1"

    assert _call(standin, "POST", followup, {"content": "early"})[2]["code"] == 10015
    status, _, deferred = _call(standin, "POST", callback, {"type": 5})
    assert (status, deferred["interaction"]["response_message_loading"]) == (200, True)
    assert _call(standin, "POST", callback, {"type": 5})[0] == 404
    # Asking for an ephemeral followup after a public deferral still posts publicly.
    status, _, message = _call(standin, "POST", followup, {"content": "a", "flags": EPHEMERAL})
    assert (status, message["id"], message["flags"]) == (
        200, deferred["interaction"]["response_message_id"], 0)
    _, _, second = _call(standin, "POST", followup, {"content": "b", "flags": EPHEMERAL})
    assert second["flags"] == EPHEMERAL and second["id"] != message["id"]
    assert [m.content for m in standin.messages_sent()] == ["a", "b"]
    assert second["author"]["id"] == str(BOT_USER_ID)
