"""HEAD on every GET route (RFC 9110 §9.3.2: a general-purpose server answers both).

FastAPI routes take only the methods they are declared with, so `HEAD /v1/models` was a 405 and `PUT /health`
said "use GET" though HEAD worked there (a second route). Load balancers and uptime probes send HEAD. The body of a
HEAD reply is dropped by the HTTP layer (uvicorn, h11); the headers are the GET's.
"""

from __future__ import annotations

import copy

from fastapi import FastAPI
from fastapi.routing import APIRoute


def answer_head(app: FastAPI) -> None:
    """Adds HEAD to every GET route registered so far: call it after the last route is added."""
    for route in app.routes:
        if isinstance(route, APIRoute) and "GET" in route.methods:
            route.methods.add("HEAD")


def documented_routes(app: FastAPI) -> list:
    """The routes as the OpenAPI document shows them: without the HEAD twin of a GET (one operation id per method
    would otherwise be the same, and FastAPI warns of duplicates)."""
    routes = []
    for route in app.routes:
        if isinstance(route, APIRoute) and "HEAD" in route.methods and "GET" in route.methods:
            route = copy.copy(route)
            route.methods = route.methods - {"HEAD"}
        routes.append(route)
    return routes
