"""Errors, split by what the caller should do about them.

Every error carries an ICE ``Code`` and a human ``Message``; API views render them as
``{Code, Message, RequestId}`` and workers store them on the job's output details.
"""

from __future__ import annotations

from typing import TypeVar

_Record = TypeVar("_Record")


class McfarmError(Exception):
    """Root of every error mcfarm raises on purpose.

    Attributes:
        code: the ICE error code, e.g. ``InvalidParameter.ResourceContentBad``.
        message: a sentence for the user that says what was wrong.
        http_status: the status the API answers with when this reaches a view.
    """

    code = "InternalError"
    http_status = 500

    def __init__(self, message: str, *, code: str | None = None, http_status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# --- API request errors ---------------------------------------------------------------


class ApiError(McfarmError):
    """A request the API refuses; never reaches a worker."""

    code = "InvalidParameter"
    http_status = 400


def missing_parameter(name: str) -> ApiError:
    return ApiError(
        f'The input parameter "{name}" that is mandatory for processing this request '
        "is not supplied.",
        code="MissingParameter",
    )


def invalid_parameter(name: str, why: str = "") -> ApiError:
    tail = f" {why}" if why else ""
    return ApiError(
        f'The specified parameter "{name}" is not valid.{tail}', code="InvalidParameter"
    )


def require_found(
    record: _Record | None, kind: str, ident: str, *, owner: str | None = None
) -> _Record:
    """``record``, unless there is none or (with ``owner``) it is another account's.

    Every "no such job, pipeline, template, dead letter…" answer goes through here, so an
    unknown id and another account's id read exactly the same.

    Args:
        record: what a lookup found, or None.
        kind: what was looked for, for the message (``"pipeline"``).
        ident: the id the caller gave.
        owner: the caller's account; the record's ``owner`` attribute must match it.

    Raises:
        ApiError: 404 ``ResourceNotFound``.
    """
    if record is None or (owner is not None and getattr(record, "owner", None) != owner):
        raise ApiError(
            f'The specified {kind} "{ident}" does not exist.',
            code="ResourceNotFound",
            http_status=404,
        )
    return record


# --- Job processing errors ----------------------------------------------------------


class TranscodeError(McfarmError):
    """Root of what can go wrong while a job runs."""

    code = "InternalError"
    #: True when retrying the same work cannot help.
    permanent = True


class InvalidJob(TranscodeError):
    """Bad input or bad config: permanent, never retried, 400 when known at submit."""

    code = "InvalidParameter"
    http_status = 400


class InputMissing(InvalidJob):
    """The named input object does not exist."""

    code = "InvalidParameter.ResourceNotFound"


class InputContentBad(InvalidJob):
    """The input exists but is not media FFmpeg can read (text, truncated, empty)."""

    code = "InvalidParameter.ResourceContentBad"


class FfmpegFailed(TranscodeError):
    """FFmpeg exited non-zero, timed out or was killed.

    Attributes:
        argv: the command line that ran.
        returncode: its exit status (negative for a signal; None when it timed out).
        stderr_tail: the last lines FFmpeg wrote to stderr.
    """

    code = "TranscodeFailed"

    def __init__(self, message: str, *, argv: list[str], returncode: int | None, stderr_tail: str):
        super().__init__(message)
        self.argv = argv
        self.returncode = returncode
        self.stderr_tail = stderr_tail

    def __str__(self) -> str:
        return f"{self.code}: {self.message} (exit {self.returncode})\n{self.stderr_tail}"


class JobCancelled(TranscodeError):
    """The job was cancelled while this output ran: stop, keep nothing."""

    code = "Cancelled"


class StorageUnavailable(TranscodeError):
    """The object store or network failed in a way that may pass: retried with backoff."""

    code = "ServiceUnavailable"
    http_status = 503
    permanent = False


class ServiceUnavailable(McfarmError):
    """A dependency (Redis, the broker) is down; the caller may retry later."""

    code = "ServiceUnavailable"
    http_status = 503
