"""userLogin(username, password): UserInfo -- the Rust user-login example, in Python.

Built with componentize-py from the same WIT as every handler, it shows the handler contract is
language-neutral: same input, same output, same rejection.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import config, log
from wit_world.imports.hookwing_action_types import (
    ActionError,
    HandlerError_Reject,
    Request,
)


def user_id(username: str) -> int:
    """A stable id per username, computed like the Rust example (31-multiplier, i32 wrap)."""
    acc = 7
    for byte in username.encode():
        acc = (acc * 31 + byte) & 0xFFFFFFFF
    if acc >= 1 << 31:
        acc -= 1 << 32
    return acc % 100_000


class Handler(exports.Handler):
    def handle(self, request: Request) -> str:
        args = json.loads(request.input)
        expected = config.get("password") or "secret"
        if args["password"] != expected:
            log.log(log.Level.WARN, f"failed login for {args['username']}")
            raise Err(HandlerError_Reject(ActionError(
                message="invalid credentials",
                extensions=json.dumps({"code": "invalid-credentials"}),
            )))
        log.log(log.Level.INFO, f"login for {args['username']} (event {request.event.id})")
        return json.dumps({
            "accessToken": f"token-for-{args['username']}",
            "userId": user_id(args["username"]),
        })
