"""`leanfd serve`: the sound verifier as an HTTP service.

One `Verifier` (any backend, `ray` included) is shared by every request. Kimina Lean Server's
endpoints (`/api/check`, `/verify`, `/health`) let its clients call leanfd unchanged, with leanfd's
verdicts; `/v1/check` and `/v1/check/stream` return leanfd's own. The pure parts (request and
response shapes, limits, admission, metrics) are modules of their own; `app` wires them to
Starlette and uvicorn.
"""

from leanfd.serve.config import ServeConfig

__all__ = ["ServeConfig"]
