"""The HTTP API of the gateway, as a FastAPI app over a :class:`GatewayService`.

Routes (``{endpoint}`` is an endpoint name)::

    GET  /v2/health/live                                 liveness (no token needed)
    GET  /v2/health/ready                                readiness (no token needed)
    GET  /v2                                             OIP server metadata
    GET  /v2/models/{endpoint}                           OIP model metadata
    GET  /v2/models/{endpoint}/ready                     OIP model readiness
    POST /v2/models/{endpoint}/infer                     OIP inference (routed)
    POST /v2/models/{endpoint}/versions/{version}/infer  OIP inference (pinned version)
    GET  /endpoints                                      every endpoint and its routing
    GET  /endpoints/{endpoint}                           one endpoint: routing and status
    POST /endpoints/{endpoint}/predict                   JSON predict
    POST /endpoints/{endpoint}/feedback                  actual values, durable on 2xx

Errors are ``{"error": <sentence>, "type": <error class>}`` with the status the
error class carries (400, 401, 404, 413, 415, 422, 503); bad input is never a 5xx.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from rayops._version import __version__
from rayops.errors import InvalidInputError, RayopsError
from rayops.serving.auth import BearerAuth
from rayops.serving.errors import (
    NotReadyError,
    PayloadTooLargeError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)
from rayops.serving.jsonbody import JsonLimits
from rayops.serving.oip import (
    binary_outputs,
    binary_response,
    columns_from_request,
    infer_response,
    model_metadata,
    requested_outputs,
    split_binary_body,
)

if TYPE_CHECKING:
    from rayops.serving.routing import Router
    from rayops.serving.service import GatewayService

__all__ = ["create_api"]

_JSON_TYPES = ("application/json", "application/octet-stream")


def create_api(
    service: GatewayService,
    extensions: Sequence[Callable[[FastAPI, GatewayService], None]] = (),
) -> FastAPI:
    """The FastAPI app serving ``service``; used by the Serve gateway and usable alone.

    Each of ``extensions`` adds routes to the app (the gateway application adds the
    web dashboard of :mod:`rayops.analytics.web` this way).

    Example:
        >>> app = create_api(GatewayService(Settings()))  # doctest: +SKIP
        >>> uvicorn.run(app)  # doctest: +SKIP
    """
    settings = service.settings
    limits = JsonLimits.from_settings(settings)
    # No /openapi.json either: it answered without the token (issue 14 enumerates app.routes).
    app = FastAPI(
        title="rayops gateway",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.exception_handler(RayopsError)
    async def _rayops_error(request: Request, exc: RayopsError) -> JSONResponse:
        if service.metrics is not None:
            # Only served endpoints get their own series: a path can name anything, and
            # one metric series per made-up name would grow without bound.
            named = str(request.path_params.get("endpoint", ""))
            known = service.live_router(named) is not None if named else False
            service.metrics.failed(named if known else "-", exc.http_status)
        # Predict requests that failed before reaching service.predict (which records
        # its own outcomes); unauthenticated calls are not logged.
        predicting = request.method == "POST" and request.url.path.endswith(("/infer", "/predict"))
        if predicting and not isinstance(exc, UnauthorizedError):
            if not getattr(request.state, "predicting", False):
                service.record_rejected(
                    str(request.path_params.get("endpoint", "")), exc.http_status
                )
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, UnauthorizedError) else None
        return JSONResponse(
            {"error": str(exc), "type": type(exc).__name__},
            status_code=exc.http_status,
            headers=headers,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _routing_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Paths and methods no route matches: the same error shape as every other answer.
        sentence = {
            404: f"No route {request.method} {request.url.path}: see GET /endpoints and the "
            "README's HTTP reference.",
            405: f"{request.method} is not allowed on {request.url.path}.",
        }.get(exc.status_code, str(exc.detail))
        return JSONResponse(
            {"error": sentence, "type": "NotFoundError" if exc.status_code == 404 else "HTTPError"},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    auth = BearerAuth(settings.api_token)

    def authorize(request: Request) -> None:
        auth.require(request.headers.get("authorization"))

    async def body_of(request: Request, *, binary_ok: bool = False) -> tuple[Any, bytes]:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        header_length = request.headers.get("inference-header-content-length")
        allowed = _JSON_TYPES if (binary_ok and header_length is not None) else _JSON_TYPES[:1]
        if kind and kind not in allowed and not kind.endswith("+json"):
            raise UnsupportedMediaTypeError(
                f"Send the body as JSON (Content-Type: application/json), not {kind!r}."
            )
        limit = settings.serving.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLargeError(
                f"The body has {declared} bytes; this gateway accepts at most {limit} "
                "(serving_max_body_bytes). Split the request."
            )
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(
                    f"The body is larger than {limit} bytes (serving_max_body_bytes); "
                    "split the request."
                )
            chunks.append(chunk)
        raw = b"".join(chunks)
        if not raw:
            raise InvalidInputError("The request body is empty; send a JSON object.")
        if binary_ok:
            return split_binary_body(raw, header_length, limits)
        return split_binary_body(raw, None, limits)

    async def find_router(endpoint: str) -> Router:
        # The snapshot answers without I/O; a miss reads storage (and may load
        # models), which must not block the event loop.
        found = service.live_router(endpoint)
        return found if found is not None else await asyncio.to_thread(service.router, endpoint)

    def rows_ok(n: int) -> None:
        if n > settings.serving.max_rows:
            raise PayloadTooLargeError(
                f"{n} rows is more than the {settings.serving.max_rows} one request may carry "
                "(serving_max_rows); split the request."
            )

    async def endpoint_doc(name: str) -> dict[str, Any]:
        return await asyncio.to_thread(endpoint_doc_sync, name)

    def endpoint_doc_sync(name: str) -> dict[str, Any]:
        table = service.table(name)
        doc = table.model_dump(mode="json")
        doc["status"] = "error" if service.error(name) else "ready"
        doc["error"] = service.error(name)
        doc["features"] = service.schema(name).features
        doc["targets"] = service.targets(name)
        doc["ensembles"] = service.performance(name)
        return doc

    # --- health and metadata ----------------------------------------------------------
    @app.get("/v2/health/live")
    async def live() -> dict[str, Any]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> JSONResponse:
        ok = service.ready
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @app.get("/v2")
    async def server_metadata(request: Request) -> dict[str, Any]:
        authorize(request)
        return {"name": "rayops", "version": __version__, "extensions": ["binary_tensor_data"]}

    @app.get("/v2/models/{endpoint}")
    @app.get("/v2/models/{endpoint}/versions/{version}")
    async def oip_metadata(request: Request, endpoint: str, version: str | None = None) -> Any:
        authorize(request)
        router = await find_router(endpoint)
        schema = await asyncio.to_thread(service.schema, endpoint, version)
        targets = await asyncio.to_thread(service.targets, endpoint, version)
        versions = [r.version for r in router.table.routes]
        return model_metadata(endpoint, [version] if version else versions, schema, targets)

    @app.get("/v2/models/{endpoint}/ready")
    @app.get("/v2/models/{endpoint}/versions/{version}/ready")
    async def oip_ready(request: Request, endpoint: str, version: str | None = None) -> Any:
        authorize(request)
        router = await find_router(endpoint)
        if version:
            router.choose_version(version)
        if service.error(endpoint):
            raise NotReadyError(f"Endpoint {endpoint!r}: {service.error(endpoint)}")
        return {"name": endpoint, "ready": True}

    # --- inference --------------------------------------------------------------------
    @app.post("/v2/models/{endpoint}/infer")
    @app.post("/v2/models/{endpoint}/versions/{version}/infer")
    async def oip_infer(request: Request, endpoint: str, version: str | None = None) -> Any:
        authorize(request)
        await find_router(endpoint)
        body, binary = await body_of(request, binary_ok=True)

        def frame(schema: Any) -> Any:
            columns = columns_from_request(body, binary, schema)
            rows_ok(len(next(iter(columns.values()), [])))
            return schema.frame_from_columns(columns)

        targets = requested_outputs(body, service.targets(endpoint, version))
        request.state.predicting = True
        result = await asyncio.to_thread(
            service.predict, endpoint, frame, version=version, protocol="oip", targets=targets
        )
        out = infer_response(
            endpoint,
            result.route.version,
            result.request_id,
            result.outputs if result.outputs is not None else result.predictions,
            result.route.model,
        )
        if isinstance(body, dict) and isinstance(body.get("id"), str):
            out["id"] = body["id"]
        binary_out = binary_outputs(body)
        if binary_out:  # the binary tensor extension: no float-to-text for large answers
            data, header_length = binary_response(out, binary_out)
            return Response(
                data,
                media_type="application/octet-stream",
                headers={"Inference-Header-Content-Length": str(header_length)},
            )
        return JSONResponse(out)  # already JSON types: skip FastAPI's per-value encoder

    @app.post("/endpoints/{endpoint}/predict")
    async def predict(request: Request, endpoint: str) -> Any:
        authorize(request)
        await find_router(endpoint)
        body, _ = await body_of(request)
        if not isinstance(body, dict):
            raise InvalidInputError('The body must be an object: {"instances": [...]}.')
        unknown = sorted(set(body) - {"instances", "key", "version", "targets"})
        if unknown:
            raise InvalidInputError(
                f"Unknown field {unknown[0]!r}; a predict body has 'instances', 'key', "
                "'version' and 'targets'."
            )
        key, version, targets = body.get("key"), body.get("version"), body.get("targets")
        for name, value in (("key", key), ("version", version)):
            if value is not None and not isinstance(value, str):
                raise InvalidInputError(f"{name!r} must be a string.")
        if isinstance(targets, str):
            targets = [targets]
        if targets is not None and not (
            isinstance(targets, list) and all(isinstance(t, str) for t in targets)
        ):
            raise InvalidInputError("'targets' must be a list of target names.")
        instances = body.get("instances")
        if isinstance(instances, list):
            rows_ok(len(instances))
        request.state.predicting = True
        result = await asyncio.to_thread(
            service.predict,
            endpoint,
            lambda schema: schema.frame_from_instances(instances),
            key=key,
            version=version,
            targets=targets,
        )
        answer: dict[str, Any] = {"predictions": result.predictions}
        if result.outputs is not None:  # multi-target: {target: [one per row]}
            answer = {"predictions": result.outputs, "targets": list(result.outputs)}
        answer.update(
            model=result.route.model, version=result.route.version, request_id=result.request_id
        )
        return JSONResponse(answer)  # already JSON types: skip FastAPI's per-value encoder

    @app.post("/endpoints/{endpoint}/feedback")
    async def feedback(request: Request, endpoint: str) -> Any:
        authorize(request)
        await find_router(endpoint)
        body, _ = await body_of(request)
        if not isinstance(body, dict) or set(body) != {"request_id", "actuals"}:
            raise InvalidInputError(
                'A feedback body is {"request_id": "...", "actuals": [one number per row]} '
                '(a multi-target endpoint also takes {"target": [...]} as actuals).'
            )
        request_id, actuals = body["request_id"], body["actuals"]
        if not isinstance(request_id, str) or not 0 < len(request_id) <= 128:
            raise InvalidInputError("'request_id' must be the request id a prediction returned.")
        if isinstance(actuals, dict):
            if not actuals:
                raise InvalidInputError("'actuals' must name at least one target.")
            per_target = {str(t): numbers(f"actuals[{t!r}]", v) for t, v in actuals.items()}
            await service.feedback(endpoint, request_id, per_target)
            stored = sum(len(v) for v in per_target.values())
        else:
            values = numbers("actuals", actuals)
            await service.feedback(endpoint, request_id, values)
            stored = len(values)
        return JSONResponse({"stored": stored, "request_id": request_id}, status_code=201)

    def numbers(name: str, values: Any) -> list[float]:
        if not isinstance(values, list):
            values = [values]
        if not values:
            raise InvalidInputError(f"'{name}' must hold one number per predicted row.")
        rows_ok(len(values))
        for i, v in enumerate(values):
            if type(v) not in (int, float) or not math.isfinite(v):
                raise InvalidInputError(
                    f"{name}[{i}] is {v!r}; every actual must be a finite number."
                )
        return [float(v) for v in values]

    # --- endpoints --------------------------------------------------------------------
    @app.get("/endpoints")
    async def list_endpoints(request: Request) -> Any:
        authorize(request)
        names = service.endpoint_names()
        return {"endpoints": [await endpoint_doc(n) for n in names]}

    @app.get("/endpoints/{endpoint}")
    async def get_endpoint(request: Request, endpoint: str) -> Any:
        authorize(request)
        return await endpoint_doc(endpoint)

    for extend in extensions:
        extend(app, service)
    return app
