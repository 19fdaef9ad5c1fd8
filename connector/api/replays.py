"""Replays (`POST /v1/hooks/{id}/replay`, `/v1/replays/{id}`): send a time range again."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, url_for

from ..delivery.replays import REPLAY_SCHEMA
from ..errors import HookNotActive, ReplayRunning, ReplayTooLarge
from .auth import authenticate_request
from .context import account, public_url, service
from .inputs import int_arg, json_body
from .operations import Answer, Operation, Param, describe
from .representations import ref

bp = Blueprint("replays", __name__, url_prefix="/v1")
bp.before_request(authenticate_request)

_REPLAY = (Answer(200, "the replay and its progress", ref("Replay")),)


@bp.post("/hooks/<hook_id>/replay")
@describe(
    Operation(
        "replayHook",
        "Send a time range of a hook's deliveries again, and optionally the events it missed",
        "replays",
        (
            Answer(
                202,
                "accepted: workers queue it in batches; read its progress at `Location`",
                ref("Replay"),
                {"Location": "the replay's URL"},
            ),
        ),
        description="Deliveries are sent again with their own webhook-id, so receivers "
        "deduplicate. At most 31 days and HOOKKIT_REPLAY_MAX_COUNT (10,000) deliveries and "
        "events per replay; one running replay per hook.",
        body=REPLAY_SCHEMA.schema,
        errors=(HookNotActive, ReplayRunning, ReplayTooLarge),
    )
)
def replay(hook_id: str) -> tuple[Response, int]:
    started = service().replays.start(account().id, hook_id, json_body())
    response = jsonify(started)
    response.headers["Location"] = public_url(url_for(".get_replay", replay_id=started["id"]))
    return response, 202


@bp.get("/hooks/<hook_id>/replays")
@describe(
    Operation(
        "listHookReplays",
        "A hook's replays, newest first",
        "replays",
        (Answer(200, "its replays", ref("ReplayList")),),
        query=(Param("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}),),
    )
)
def list_replays(hook_id: str) -> Response:
    limit = int_arg("limit", 20, low=1, high=100)
    return jsonify({"replays": service().replays.list_for_hook(account().id, hook_id, limit=limit)})


@bp.get("/replays/<replay_id>")
@describe(Operation("getReplay", "One replay and its progress", "replays", _REPLAY))
def get_replay(replay_id: str) -> Response:
    return jsonify(service().replays.get(account().id, replay_id))


@bp.delete("/replays/<replay_id>")
@describe(
    Operation(
        "cancelReplay",
        "Stop queueing: what is queued already goes out; a finished replay stays as it was",
        "replays",
        _REPLAY,
    )
)
def cancel_replay(replay_id: str) -> Response:
    return jsonify(service().replays.cancel(account().id, replay_id))
