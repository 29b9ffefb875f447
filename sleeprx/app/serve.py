"""One person's prescription over HTTP: a small FastAPI service over :func:`prescribe`.

``POST /prescribe`` takes people in the survey file's own columns and answers with one
row per person (up to ``options`` per person, numbered by ``option``, when a request
asks for its N best plans), as ``sleeprx prescribe --format json`` writes it; ``GET /description``
gives the levers an app may show; ``GET /health`` says the service is up. The model is
loaded when the app is built, and once in each solver process
(:mod:`sleeprx.app.serve_solvers`) before the service answers.

Private by default: the command line binds the loopback interface and refuses another
one without a bearer token (``--insecure`` aside); a token is compared in constant
time. Bodies and people per request are capped, and nothing in a request names a file.
Logs give counts and timings, never a person's answers.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import sys
from collections.abc import AsyncIterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, create_model

from sleeprx.app.serve_solvers import Cell, ProcessSolver, ThreadSolver
from sleeprx.learn.model import TrainedModel, load_model
from sleeprx.settings import PrescribeSettings
from sleeprx.survey.description import SurveyDescription
from sleeprx.utils.errors import ConfigError, SleeprxError

__all__ = ["REQUEST_SETTINGS", "ServeConfig", "create_app", "read_token"]

log = logging.getLogger("sleeprx.serve")

#: The settings a request may choose. Solver limits, HiGHS options (some name files),
#: routes and the robust check stay the service's: a request cannot make a worker
#: write a file or run without a time limit.
REQUEST_SETTINGS = (
    "mode",
    "max_changes",
    "lam",
    "min_gain",
    "min_gain_prob",
    "resistance_scale",
    "budget",
    "goal",
    "disagree_ratio",
    "options",
)


@dataclass(frozen=True)
class ServeConfig:
    """What the app is built from: the model folder, the token file (None: no token),
    the limits of one request, and the solver processes (1: a thread in the service's
    own process)."""

    model_dir: str
    token_file: str | None = None
    max_body_bytes: int = 1 << 20
    max_people: int = 1000
    workers: int = 1


def _request_settings_model() -> type[BaseModel]:
    """A model of :data:`REQUEST_SETTINGS` with :class:`PrescribeSettings`' own
    fields (types, bounds, defaults, descriptions), so the OpenAPI schema shows them."""
    fields = PrescribeSettings.model_fields
    model = create_model(
        "RequestSettings",
        __config__=ConfigDict(extra="forbid"),
        **{name: (fields[name].annotation, fields[name]) for name in REQUEST_SETTINGS},
    )
    model.__doc__ = "Prescription settings a request may choose; the rest are the service's."
    return model


RequestSettings = _request_settings_model()


class PrescribeRequest(BaseModel):
    """People in the survey file's own columns (headers as the file writes them)."""

    model_config = ConfigDict(extra="forbid")

    people: list[dict[str, Cell]] = Field(
        min_length=1,
        description="one object per person: survey column header -> answer",
        examples=[[{"Person ID": 1, "Gender": "Male", "Age": 27, "...": "..."}]],
    )
    settings: RequestSettings | None = None  # type: ignore[valid-type]


class PrescribeResponse(BaseModel):
    """One row per person (per plan, with ``options``), in the request's order of ids,
    as ``--format json`` writes them; a person with an invalid answer gets a row with
    status ``error``."""

    prescriptions: list[dict[str, Any]]


def read_token(path: str | Path) -> str:
    """The bearer token in the file ``path`` (surrounding whitespace dropped)."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the token file ({exc})") from None
    if len(token) < 16:
        raise ConfigError(f"{path}: the token must be at least 16 characters")
    return token


def _bearer(token: str | None):
    """A dependency refusing a request without ``Authorization: Bearer <token>``.

    Async, so that FastAPI runs it on the event loop: a plain ``def`` dependency costs
    each request a hop to a worker thread and back."""

    async def check(authorization: Annotated[str | None, Header()] = None) -> None:
        if token is None:
            return
        scheme, _, given = (authorization or "").partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        )
        if not ok:
            raise HTTPException(
                401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    return check


class BodyLimit:
    """ASGI middleware: 413 for a body over ``limit`` bytes, by its Content-Length or
    as it streams in (a chunked body has none)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.limit:
            response = JSONResponse({"detail": self._message()}, status_code=413)
            return await response(scope, receive, send)
        received = 0

        async def limited() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:  # FastAPI passes an HTTPException on
                raise HTTPException(413, self._message())
            return message

        return await self.app(scope, limited, send)

    def _message(self) -> str:
        return f"request body over {self.limit} bytes"


def describe(description: SurveyDescription) -> dict[str, Any]:
    """The levers (labels, units, safe ranges) and the columns a person's answers need."""
    target = description.column(description.target.column).source
    levers = [
        {
            "column": description.column(f.column).source,
            "name": f.column,
            "label": f.label,
            "unit": f.unit,
            "lower": f.safe_lower,
            "upper": f.safe_upper,
            "step": f.step,
            "levels": list(f.levels) if f.levels is not None else None,
            "direction": str(f.direction),
            "max_change": f.max_change,
        }
        for f in description.modifiable
    ]
    columns = [
        {
            "column": c.source,
            "type": c.type,
            "min": c.min,
            "max": c.max,
            "categories": list(c.categories) or None,
            "unit": c.unit,
            "required": c.source != target and not c.allow_missing,
        }
        for c in description.columns
    ]
    return {"survey": description.name, "levers": levers, "columns": columns}


def create_app(config: ServeConfig, model: TrainedModel | None = None) -> FastAPI:
    """The service, with its model loaded (from ``config.model_dir`` unless given);
    with ``config.workers`` above 1 each solver process loads its own from
    ``config.model_dir`` when the app starts."""
    model = model if model is not None else load_model(config.model_dir)
    token = read_token(config.token_file) if config.token_file else None
    solver = (
        ThreadSolver(model)
        if config.workers == 1
        else ProcessSolver(config.model_dir, config.workers)
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await solver.start()  # /health answers once every solver has the model
        yield
        solver.close()  # uvicorn has answered every request

    app = FastAPI(
        lifespan=lifespan,
        title="sleeprx",
        summary="Personal, minimal sleep-behaviour prescriptions. Decision support for "
        "research, not medical advice.",
        version=sys.modules["sleeprx"].__version__,  # loaded before any of its modules
    )
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    guarded = [Depends(_bearer(token))]
    description = describe(model.description)

    @app.exception_handler(SleeprxError)
    async def _refused(request: Request, exc: SleeprxError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Open to all: the service is up and its model loaded."""
        return {"status": "ok"}

    @app.get("/description", dependencies=guarded)
    async def levers() -> dict[str, Any]:
        """The levers, their labels, units and safe ranges, and the columns to send."""
        return description

    @app.post("/prescribe", dependencies=guarded, response_model=PrescribeResponse)
    async def prescriptions(body: PrescribeRequest) -> Response:
        """One verified prescription per person."""
        if len(body.people) > config.max_people:
            raise HTTPException(413, f"{len(body.people)} people; at most {config.max_people}")
        chosen = body.settings.model_dump(exclude_unset=True) if body.settings else {}
        try:
            answer = await solver.solve(body.people, chosen)
        except BrokenProcessPool:
            raise HTTPException(503, "a solver process stopped; send the request again") from None
        log.info(
            "prescribe: %d people, %d errors, mode %s, %.1f ms",
            answer.rows,
            answer.errors,
            answer.mode,
            answer.ms,
        )
        return Response(answer.content, media_type="application/json")

    return app


def check_binding(host: str, *, token: bool, insecure: bool) -> None:
    """Refuse to listen beyond the loopback interface without a token, unless told to."""
    if token or insecure or _is_loopback(host):
        return
    raise ConfigError(
        f"{host!r}: binding beyond the loopback interface needs a bearer token "
        f"(or, knowingly, --insecure)"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(config: ServeConfig, *, host: str, port: int) -> None:
    """Load the model (refusing a bad folder or token before listening) and serve: one
    process speaks HTTP, ``config.workers`` solve."""
    import uvicorn

    app = create_app(config)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    # each request's count and time is logged by the app
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
