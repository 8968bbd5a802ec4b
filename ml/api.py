"""The recommendations HTTP API (FastAPI): what apps call; OpenAPI docs at /docs.

GET /users/{user_id}/recommendations?k=10[&region=US&genre=Drama]
    -> {user_id, source: live | als | cold_start, explanation, model_version,
        items: [{rank, video_id, title, genre, score, reason}]}
GET /health -> {status, tables: {name: Delta version}}

Answers come from memory (`ml.serving.Recommender`), reloaded by a background thread when a
table's Delta version changes. With a token (`REELHOUSE_API_TOKEN`), every request but /health
needs `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from foundation.errors import ReelhouseError
from foundation.settings import Settings
from ml.serving import Recommender

MAX_K = 100


def parse_k(text: str) -> int:
    """`k` from the query string: a whole number 1..MAX_K, else a one-line 400."""
    try:
        k = int(text)
    except ValueError:
        k = 0
    if not 1 <= k <= MAX_K:
        raise HTTPException(400, f"k must be a whole number from 1 to {MAX_K}, got {text!r}")
    return k


def create_app(settings: Settings, token: str | None = None, refresh_seconds: float = 0.1) -> FastAPI:
    recommender = Recommender(settings)
    stop = threading.Event()

    def keep_fresh() -> None:
        while not stop.wait(refresh_seconds):
            try:
                recommender.refresh()
            except Exception:  # a table caught mid-commit: try again at the next tick
                continue

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        thread = threading.Thread(target=keep_fresh, name="refresh", daemon=True)
        thread.start()
        yield
        stop.set()

    app = FastAPI(title="reelhouse recommendations", version="1", lifespan=lifespan)

    if token:  # an HTTP middleware costs every request about a millisecond: only when it has work
        @app.middleware("http")
        async def require_token(request: Request, call_next):
            if request.url.path != "/health":
                given = request.headers.get("authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                    return JSONResponse({"detail": "missing or wrong bearer token"}, status_code=401)
            return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid request')}"}, status_code=400)

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "tables": recommender.versions()}

    # async and a ready response: the answer is a dictionary lookup, so it runs on the event loop
    # (no hop to a worker thread) and skips FastAPI's generic encoder
    @app.get("/users/{user_id}/recommendations")
    async def recommendations(user_id: str, k: str = "10", region: str | None = None,
                              genre: str | None = None) -> JSONResponse:
        try:
            answer = recommender.answer(user_id, parse_k(k), region or None, genre or None)
        except ReelhouseError as error:
            raise HTTPException(503, str(error)) from None
        return JSONResponse({
            "user_id": answer.user_id, "source": answer.strategy, "explanation": answer.explanation,
            "model_version": answer.model_version,
            "items": [vars(item) for item in answer.items],
        })

    return app
