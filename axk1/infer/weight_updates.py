"""`POST /update_weights_from_disk`: the served weights replaced by a model folder's, for on-policy RL.

RL at scale trains on one set of GPUs and samples on a server (axk1/posttrain/rollout_server.py): after each update
the trainer writes the policy as a model folder on a file system both see and asks the server to load it. The route
and its body are SGLang's (`{"model_path": ...}` -> `{"success": ..., "message": ...}`). It is off unless
`axk1 serve --enable-weight-updates`: it makes the server read any folder it can see (weights from safetensors
only, as every load here), so behind the server's API key too (--api-key-env, AXK1_API_KEY).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from axk1.infer.protocol import APIError
from axk1.infer.sequence import RequestError, WeightsBusy

log = logging.getLogger(__name__)
ROUTE = "/update_weights_from_disk"
# How long an update waits for the choices already sampling to finish (new requests wait meanwhile): a rollout of
# 32K tokens takes minutes on a loaded server; past this the update is refused (409) and the queue moves again.
DRAIN_S = 600.0


class WeightUpdateRequest(BaseModel):
    model_path: str = Field(min_length=1, max_length=4096,
                            description="a model folder (config.json + safetensors) of the served architecture")

    def problem(self) -> None:  # parse_request's hook for checks across fields: none here
        return None


def add_weight_update_route(app: FastAPI, state, read_request) -> None:
    """The route on `app`, serving `state` (axk1.infer.server.ServerState); `read_request(request, state, cls)`
    reads and validates a body as the generation routes do (size, time and JSON limits)."""

    # One load at a time: two pushes at once each loaded a whole copy of the weights beside the served one (for the
    # real model, out of memory). The second is refused, not queued: a 409 the RL client already retries on.
    loading = asyncio.Lock()

    @app.post(ROUTE)
    async def update_weights(request: Request) -> JSONResponse:
        path = (await read_request(request, state, WeightUpdateRequest)).model_path
        if loading.locked():
            raise APIError(409, "another weight update is loading: send this one again when it has been answered",
                           param="model_path")
        t0 = time.perf_counter()
        try:
            async with loading:
                # raced against the shutdown: a load (or its wait for the choices sampling) still going when the
                # requests in flight are ended gets their 503 (a force quit cut it with a plain-text 500)
                dropped = await state.shutdown.race(asyncio.to_thread(_replace, state.engine, Path(path)))
        except RequestError as e:
            raise APIError(409 if isinstance(e, WeightsBusy) else 400, str(e), param="model_path") from None
        except (OSError, ValueError, KeyError) as e:  # a missing folder, a bad header, a missing tensor: named
            raise APIError(400, f"cannot load {path}: {e}", param="model_path") from None
        message = f"loaded {path} in {time.perf_counter() - t0:.2f} s; {dropped} cached prefix blocks dropped"
        log.info("weights replaced: %s", message)
        # the version every reply now carries as its system_fingerprint: a client that pushed these weights can
        # check that each sample it gets came from them (another client may push its own)
        return JSONResponse({"success": True, "message": message, "weights_version": state.engine.weights_version})


def _replace(engine, folder: Path) -> int:
    from axk1.checkpoint.hf import load_model

    served = engine.model.lm_head.weight
    model = load_model(folder, dtype=served.dtype, device=served.device, with_mtp=engine.drafter is not None)
    return engine.replace_weights(model, str(folder), drain_s=DRAIN_S)
