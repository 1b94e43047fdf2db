"""JSON request bodies, read with their own small limit and parsed without risk to the process.

JSON carries only parameters, so it gets a limit of its own (``ENHANCEIT_LIMITS_MAX_JSON_BYTES``, 64 KiB)
rather than the upload limit: parsing costs some 20-30 times a body's size (a 50 MB body of ``{}`` items took
1-1.8 GB), and a body is refused with 413 as soon as it claims or reaches more than the limit, before any of
it is parsed. Nesting deeper than Python's recursion limit makes the parser raise RecursionError; that is the
client's fault (400), not the server's (500), and with the small limit it is also cheap.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from enhanceit.errors import InvalidRequest, PayloadTooLarge


async def read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"a JSON body may be at most {limit:,} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"a JSON body may be at most {limit:,} bytes")
    try:
        return json.loads(body)
    except RecursionError:
        raise InvalidRequest("the JSON body is nested too deeply") from None
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        raise InvalidRequest("the body is not valid JSON") from None
