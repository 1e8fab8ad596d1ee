"""User-facing errors: one sentence that names the fix, a non-zero exit, no traceback."""

from __future__ import annotations

import errno
import functools
import gc
import sys
from collections.abc import Callable
from typing import TypeVar

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
WRITE_FAILURES = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}
"""OS errors that mean "this file cannot be written here" (full disk, quota, size limit, read-only or
forbidden folder): the machine's state, not a bug, so one sentence rather than a traceback."""

F = TypeVar("F", bound=Callable[..., object])


class UserError(Exception):
    """A mistake the user can fix (bad path, bad config key, empty input, missing package).

    The message is shown as is, so it must be one sentence that says what to do.
    """


def exit_on_user_error(main: F) -> F:
    """Wrap a command-line entry point: a `UserError` becomes `error: ...` on stderr and exit 2.

    Whichever way it ends (but a bug's traceback), the process leaves its process group first
    (`leave_process_group`)."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            result = main(*args, **kwargs)
        except UserError as error:
            message, code = f"error: {error}\n", EXIT_USER_ERROR
        except KeyboardInterrupt:
            message, code = "interrupted\n", EXIT_INTERRUPTED
        except Exception as error:
            reason = write_failure_reason(error)
            if reason is None:
                raise
            filename = getattr(error, "filename", None)
            message, code = f"error: {cannot_write(f'`{filename}`' if filename else 'a file', reason)}\n", EXIT_USER_ERROR
        else:
            leave_process_group()
            return result
        # Out of the `except` clause: the exception, and the frames holding the run's objects, are freed.
        sys.stderr.write(message)
        leave_process_group()
        raise SystemExit(code)

    return wrapper  # type: ignore[return-value]


def leave_process_group() -> None:
    """Destroy torch's default process group, if this process joined one, once the run's objects are freed.

    Left to interpreter exit, the gloo process group could be freed last by a DDP reducer, whose
    destructor holds the GIL while gloo joins a worker thread that waits for it: the process hangs
    after its work is done (seen in 2-process CPU runs). Destroyed here, its last reference is
    torch's Python binding, which releases the GIL first. Nothing to do when torch.distributed was
    never imported."""
    distributed = sys.modules.get("torch.distributed")
    if distributed is None or not distributed.is_available() or not distributed.is_initialized():
        return
    gc.collect()  # a reference cycle may still hold a DDP wrapper: free it while the group is alive
    distributed.destroy_process_group()


def write_failure_reason(error: BaseException) -> str | None:
    """Why a write failed, if `error` is a write failure (see `WRITE_FAILURES`; safetensors reports its
    I/O errors as `SafetensorError: ... I/O error: <reason>`); None for any other error."""
    if isinstance(error, OSError):
        return error.strerror if error.errno in WRITE_FAILURES else None
    message = str(error)
    if type(error).__name__ == "SafetensorError" and "I/O error: " in message:
        return message.split("I/O error: ", 1)[1]
    return None


def cannot_write(where: str, reason: str) -> str:
    return (f"could not write {where} ({reason}); free disk space or make the folder writable, then rerun the same "
            "command (training resumes from its last complete checkpoint).")
