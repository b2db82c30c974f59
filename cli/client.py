"""A small HTTP client for the REST API, used by ``mcfarm submit|get|list``."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode


class ApiCallFailed(Exception):
    """The API answered with an error document, or could not be reached."""

    def __init__(self, status: int | None, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


class Client:
    def __init__(self, base_url: str, key_id: str, secret: str, timeout: float = 30):
        self.base_url = base_url.rstrip("/")
        token = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = dict(self.headers, **({"Content-Type": "application/json"} if data else {}))
        req = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            with err:  # closes the connection the error holds
                try:
                    doc = json.loads(err.read() or b"{}")
                except json.JSONDecodeError:
                    doc = {}
            raise ApiCallFailed(
                err.code, doc.get("Code", f"HTTP{err.code}"), doc.get("Message", err.reason)
            ) from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise ApiCallFailed(
                None, "ConnectionFailed", f"cannot reach {self.base_url}: {reason}"
            ) from None

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.call("POST", "/v1/jobs", body)["Job"]

    def get(self, job_id: str) -> dict[str, Any]:
        return self.call("GET", f"/v1/jobs/{job_id}")["Job"]

    def list(
        self,
        *,
        status: str = "",
        page_size: int | None = None,
        next_page_token: str = "",
        order_by: str = "",
    ) -> dict[str, Any]:
        """One page of jobs: ``GET /v1/jobs`` with ListMediaConvertJobs' parameter names."""
        query = {
            "Status": status,
            "PageSize": page_size,
            "NextPageToken": next_page_token,
            "OrderBy": order_by,
        }
        params = urlencode({k: v for k, v in query.items() if v not in (None, "")})
        return self.call("GET", "/v1/jobs" + (f"?{params}" if params else ""))

    def job_ids(self, page_size: int = 100) -> set[str]:
        """The ids of every job of the caller, read page by page."""
        ids, token = set(), ""
        while True:
            page = self.list(page_size=page_size, next_page_token=token)
            ids.update(job["JobId"] for job in page["Jobs"])
            token = page["NextPageToken"]
            if not token:
                return ids
