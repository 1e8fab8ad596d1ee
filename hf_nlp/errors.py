"""User-facing errors: one sentence that names the fix, a non-zero exit, no traceback."""

from __future__ import annotations

import errno
import functools
import gc
import re
import sys
from collections.abc import Callable
from types import ModuleType
from typing import TypeVar

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_LOST_PROCESS = 3
"""Another process of a multi-process run (or its machine) stopped or became unreachable."""
LOST_PROCESS_SIGNS = ("Connection reset by peer", "Connection closed by peer", "Broken pipe", "Connection refused",
                      "Socket Timeout", "Timed out", "timed out", "NCCL communicator was aborted")
"""What gloo and NCCL say when a peer process dies or stops answering (gloo raises a plain RuntimeError)."""
WRITE_FAILURES = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}
"""OS errors that mean "this file cannot be written here" (full disk, quota, size limit, read-only or
forbidden folder): the machine's state, not a bug, so one sentence rather than a traceback."""

F = TypeVar("F", bound=Callable[..., object])


class TrainingOnlyFinished(Exception):
    """Raised by the loop after training when `--train.validation_only true`: the recipe stops there,
    before anything scores the test split (hyper-parameter search trials). The entry point exits 0."""


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
            message = f"error: {error}\n"
            code = EXIT_LOST_PROCESS if isinstance(error, LostProcessError) else EXIT_USER_ERROR
        except KeyboardInterrupt:
            message, code = "interrupted\n", EXIT_INTERRUPTED
        except TrainingOnlyFinished as finished:
            message, code = f"{finished}\n", 0
        except Exception as error:
            lost = lost_process_reason(error)
            reason = write_failure_reason(error)
            if lost is not None:
                message, code = f"error: {LostProcessError.of(lost)}\n", EXIT_LOST_PROCESS
            elif reason is not None:
                filename = getattr(error, "filename", None)
                message, code = f"error: {cannot_write(f'`{filename}`' if filename else 'a file', reason)}\n", \
                    EXIT_USER_ERROR
            else:
                raise
        else:
            leave_process_group()
            return result
        # Out of the `except` clause: the exception, and the frames holding the run's objects, are freed.
        sys.stderr.write(message)
        leave_process_group()
        raise SystemExit(code)

    return wrapper  # type: ignore[return-value]


def lost_process_reason(error: BaseException) -> str | None:
    """The first line of `error` if it says that another process of this process group died or stopped
    answering, else None (also when no process group was joined)."""
    distributed = _joined_process_group()
    if distributed is None:
        return None
    message = str(error)
    if not isinstance(error, distributed.DistError) and not (
            isinstance(error, RuntimeError) and any(sign in message for sign in LOST_PROCESS_SIGNS)):
        return None
    reason = message.strip().splitlines()[0] if message.strip() else type(error).__name__
    reason = re.sub(r"^\[[^\]]*\]\s*", "", reason)  # gloo's `[.../pair.cc:537] ` source location
    for sign in LOST_PROCESS_SIGNS:  # up to what happened; gloo goes on with generic advice
        if sign in reason:
            reason = reason[:reason.index(sign) + len(sign)]
            break
    return reason[:300]


class LostProcessError(UserError):
    """Another process of this multi-process run, or its machine, stopped or stopped answering."""

    @classmethod
    def of(cls, reason: str, checkpoint: str | None = None) -> LostProcessError:
        """One sentence from the backend's `reason`, naming the checkpoint the run can resume from."""
        resume = (f"the last complete checkpoint is `{checkpoint}`; once every machine is back, rerun the same "
                  "command on each to resume from it") if checkpoint else \
            "once every machine is back, rerun the same command on each (it resumes from the newest complete checkpoint)"
        return cls(f"another process of this run stopped or became unreachable ({reason}); see that process' own "
                   f"output for why; {resume}.")


def leave_process_group() -> None:
    """Destroy torch's default process group, if this process joined one, once the run's objects are freed.

    Left to interpreter exit, the gloo process group could be freed last by a DDP reducer, whose
    destructor holds the GIL while gloo joins a worker thread that waits for it: the process hangs
    after its work is done (seen in 2-process CPU runs). Destroyed here, its last reference is
    torch's Python binding, which releases the GIL first. Nothing to do when torch.distributed was
    never imported."""
    distributed = _joined_process_group()
    if distributed is None:
        return
    gc.collect()  # a reference cycle may still hold a DDP wrapper: free it while the group is alive
    distributed.destroy_process_group()


def _joined_process_group() -> ModuleType | None:
    """`torch.distributed` if this process joined a process group, else None. Looked up in `sys.modules`,
    so a run that never imported it (a CLI verb, a single-process recipe) does not import it here."""
    distributed = sys.modules.get("torch.distributed")
    if distributed is None or not distributed.is_available() or not distributed.is_initialized():
        return None
    return distributed


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
