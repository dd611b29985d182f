"""The user-login webhook on FastAPI under uvicorn (one worker), as a Python user would write it."""

import socket

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel


class Login(BaseModel):
    username: str
    password: str


class Payload(BaseModel):
    input: Login


def user_id(username: str) -> int:
    """The user-login guest's id, byte for byte (32-bit wrapping arithmetic)."""
    value = 7
    for byte in username.encode():
        value = (value * 31 + byte) & 0xFFFFFFFF
    if value >= 1 << 31:
        value -= 1 << 32
    return value % 100_000


app = FastAPI()


@app.post("/login")
async def login(payload: Payload):
    if payload.input.password != "secret":
        return JSONResponse(
            status_code=400,
            content={"message": "invalid credentials", "extensions": {"code": "invalid-credentials"}},
        )
    return {"accessToken": f"token-for-{payload.input.username}", "userId": user_id(payload.input.username)}


if __name__ == "__main__":
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    print(f"hookwing-bench: http://127.0.0.1:{port}/login", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[listener])
