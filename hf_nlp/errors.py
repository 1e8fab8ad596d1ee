"""User-facing errors: one sentence that names the fix, a non-zero exit, no traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

F = TypeVar("F", bound=Callable[..., object])


class UserError(Exception):
    """A mistake the user can fix (bad path, bad config key, empty input, missing package).

    The message is shown as is, so it must be one sentence that says what to do.
    """


def exit_on_user_error(main: F) -> F:
    """Wrap a command-line entry point: a `UserError` becomes `error: ...` on stderr and exit 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as error:
            sys.stderr.write(f"error: {error}\n")
            raise SystemExit(EXIT_USER_ERROR) from None
        except KeyboardInterrupt:
            sys.stderr.write("interrupted\n")
            raise SystemExit(EXIT_INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]
