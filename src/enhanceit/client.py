"""A Python client for an EnhanceIt server, on httpx: it sends, waits, and fetches the result.

    from enhanceit.client import Client

    with Client("http://127.0.0.1:8000", api_key="key1") as client:
        result = client.enhance("photo.jpg", model="photo", scale=2)       # result.content: the image
        client.enhance("https://example.com/cat.jpg", output="cat-2x.webp", format="webp")  # saved
        batch = client.batch(["https://example.com/a.jpg", "https://example.com/b.jpg"], scale=2)
        client.archive(batch["id"], "results.zip")

    sign_url("url key", "https://example.com/cat.jpg", model="photo", format="webp")  # /v1/u/…, for <img src>

What it does for the caller, so that a script is three lines:

* an upload (a path) goes as multipart, a URL as JSON; options are the API's (``model``, ``scale``,
  ``noise``, ``format``, ``quality``…), checked by the server, whose 400 says what is wrong;
* the server's wait (``Prefer: wait``), then a 202's job polled at its ``Retry-After`` until it ends or the
  call's ``deadline`` passes; a 429 or 503 is sent again after its ``Retry-After``, within the deadline;
* a failure (a problem+json answer, or a job that failed) raises :class:`ProblemError` with its status,
  type and detail;
* the result is fetched from its URL, which may be a bucket's: the API key goes only to the server's own
  origin, never to another host.
"""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

import httpx

__all__ = ["Client", "ProblemError", "Result", "sign_url"]

#: How long the server may hold a request open waiting for the job (it caps this itself).
DEFAULT_WAIT_SECONDS = 30
#: How long one ``enhance`` may take in all: waits, polls and retries.
DEFAULT_DEADLINE_SECONDS = 600.0
#: Statuses that mean "not now": the call waits the answer's Retry-After and sends again.
_TRY_AGAIN = (429, 503)


class ProblemError(Exception):
    """The server refused the request or the job failed: an RFC 7807 problem."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.type = str(problem.get("type", "about:blank"))
        self.title = str(problem.get("title", ""))
        self.detail = str(problem.get("detail", ""))
        self.problem = dict(problem)
        super().__init__(f"{status} {self.title}: {self.detail}" if self.detail else f"{status} {self.title}")


@dataclass(frozen=True)
class Result:
    """A finished job and its image: in ``content``, or saved at ``path`` (then ``content`` is None)."""

    job: dict[str, Any]
    content: bytes | None = None
    path: Path | None = None

    @property
    def result(self) -> dict[str, Any]:
        """The job's ``result``: url, format, width, height, bytes, model, noise, reused…"""
        value: dict[str, Any] = self.job["result"]
        return value

    @property
    def url(self) -> str:
        return str(self.result["url"])


class Client:
    """One server. ``transport`` replaces httpx's (tests); ``wait`` is how long the server may hold each
    request for the job (``Prefer: wait``)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        wait: int = DEFAULT_WAIT_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.wait = wait
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)
        # results may live on another host (a bucket): fetched without the API key
        self._plain = httpx.Client(timeout=timeout, transport=transport, follow_redirects=True)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()
        self._plain.close()

    def enhance(
        self,
        image: str | Path,
        *,
        output: str | Path | None = None,
        deadline: float = DEFAULT_DEADLINE_SECONDS,
        **options: Any,
    ) -> Result:
        """Enhance ``image`` (a path to upload, or an http(s) URL the server fetches) with the API's
        ``options``; the result's bytes, or saved at ``output``. Raises :class:`ProblemError`."""
        until = time.monotonic() + deadline
        job = self._finished(self._submit(image, options, until), until)
        return self._fetch(job, Path(output) if output is not None else None)

    def job(self, job_id: str) -> dict[str, Any]:
        """A job's record as the server shows it."""
        return _json(self._checked(self._http.get(f"v1/jobs/{job_id}")))

    def batch(
        self,
        images: Sequence[str | Path],
        *,
        webhook_url: str | None = None,
        wait: bool = True,
        deadline: float = DEFAULT_DEADLINE_SECONDS,
        **options: Any,
    ) -> dict[str, Any]:
        """Enhance ``images`` (all URLs, sent as JSON; or all paths, uploaded in one multipart request) as
        one batch with the shared ``options``; its view once every item has ended (or at once, without
        ``wait``). Items that failed are in it with their errors: only a refused batch raises."""
        urls = [i for i in images if isinstance(i, str) and i.startswith(("http://", "https://"))]
        until = time.monotonic() + deadline
        while True:
            if len(urls) == len(images):
                body = {"items": [{"image_url": u} for u in urls], "options": options, "webhook_url": webhook_url}
                response = self._http.post("v1/batches", json={k: v for k, v in body.items() if v is not None})
            elif not urls:
                response = self._post_files([Path(i) for i in images], options, webhook_url)
            else:
                raise ValueError("a batch is all URLs or all files")
            if response.status_code not in _TRY_AGAIN or not _pause(response, until):
                break
        view = _json(self._checked(response))
        while wait and view.get("status") == "running":
            if not _pause(response, until):
                raise ProblemError(504, {"title": "Timeout", "detail": f"batch {view.get('id')} did not end in time"})
            response = self._http.get(f"v1/batches/{view['id']}")
            view = _json(self._checked(response))
        return view

    def archive(self, batch_id: str, output: str | Path) -> Path:
        """The batch's results as a zip (with a manifest.json of the items that have none), saved at
        ``output`` as it streams."""
        return self._save(self._http, f"v1/batches/{batch_id}/archive", Path(output))

    def _post_files(self, paths: list[Path], options: Mapping[str, Any], webhook_url: str | None) -> httpx.Response:
        fields = {k: _field(v) for k, v in options.items() if v is not None}
        if webhook_url:
            fields["webhook_url"] = webhook_url
        with ExitStack() as stack:
            files = [("file", stack.enter_context(_upload(p))) for p in paths]
            return self._http.post("v1/batches", files=files, data=fields)

    def _submit(self, image: str | Path, options: Mapping[str, Any], until: float) -> httpx.Response:
        headers = {"Prefer": f"wait={self.wait}"}
        while True:
            if isinstance(image, str) and image.startswith(("http://", "https://")):
                response = self._http.post("v1/enhance", json={"image_url": image, **options}, headers=headers)
            else:
                with _upload(Path(image)) as file:
                    fields = {k: _field(v) for k, v in options.items() if v is not None}
                    response = self._http.post("v1/enhance", files={"file": file}, data=fields, headers=headers)
            if response.status_code not in _TRY_AGAIN or not _pause(response, until):
                return response

    def _finished(self, response: httpx.Response, until: float) -> dict[str, Any]:
        """The job once it has ended well, polling a 202's job at its Retry-After."""
        while True:
            job = _json(self._checked(response))
            if response.status_code == 200 and job.get("status") == "succeeded":
                return job
            if job.get("status") in ("failed", "canceled"):
                raise ProblemError(int(job.get("error", {}).get("status", 500)), _job_problem(job))
            if not _pause(response, until):
                raise ProblemError(504, {"title": "Timeout", "detail": f"job {job.get('id')} did not end in time"})
            response = self._http.get(f"v1/jobs/{job['id']}")

    def _fetch(self, job: dict[str, Any], output: Path | None) -> Result:
        url = urljoin(self.base_url, job["result"]["url"])
        http = self._http if _same_origin(url, self.base_url) else self._plain
        if output is None:
            response = http.get(url)
            self._checked(response)
            return Result(job, content=response.content)
        return Result(job, path=self._save(http, url, output))

    def _save(self, http: httpx.Client, url: str, output: Path) -> Path:
        """``url``'s body streamed to a file beside ``output``, renamed to it when whole: never a half file."""
        partial = output.with_name(f".{output.name}.part")
        with http.stream("GET", url) as response:
            self._checked(response)
            with partial.open("wb") as f:
                for chunk in response.iter_bytes():
                    f.write(chunk)
        partial.replace(output)
        return output

    @staticmethod
    def _checked(response: httpx.Response) -> httpx.Response:
        if response.status_code < 400:
            return response
        response.read()
        try:
            problem = response.json()
        except ValueError:
            problem = {"title": response.reason_phrase, "detail": response.text[:200]}
        raise ProblemError(response.status_code, problem if isinstance(problem, dict) else {})


def sign_url(key: str, source: str, *, presets: Sequence[str] = (), size: int = 32, **options: Any) -> str:
    """The path of a signed processing URL (``/v1/u/…``; put the server's origin before it) that serves
    ``source`` enhanced with ``options`` (the API's names: ``model``, ``scale``, ``format``…) or the named
    ``presets``, signed with ``key`` as the server's ``ENHANCEIT_URLS_KEY`` (its first key) and
    ``ENHANCEIT_URLS_SIGNATURE_SIZE`` (``size``) sign them."""
    from enhanceit.security.urlsigning import UrlKeys
    from enhanceit.signedurls import pairs, signed_path

    return signed_path(UrlKeys([key.encode()], size), source, pairs(options, presets))


def _json(response: httpx.Response) -> dict[str, Any]:
    value = response.json()
    if not isinstance(value, dict):
        raise ProblemError(502, {"title": "Bad answer", "detail": "the server's answer is not a JSON object"})
    return value


def _job_problem(job: Mapping[str, Any]) -> dict[str, Any]:
    error = job.get("error") or {}
    return {"type": error.get("type", ""), "title": error.get("type", "failed"), "detail": error.get("message", "")}


def _pause(response: httpx.Response, until: float) -> bool:
    """Sleep the answer's Retry-After (1 s if it gives none); False when that would pass ``until``."""
    try:
        seconds = max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        seconds = 1.0
    if time.monotonic() + seconds > until:
        return False
    time.sleep(seconds)
    return True


def _field(value: Any) -> str:
    """An option as a multipart field: JSON's spelling of booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@contextmanager
def _upload(path: Path) -> Iterator[tuple[str, IO[bytes], str]]:
    with path.open("rb") as f:
        yield path.name, f, mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)
