"""Every Hub request with a timeout: a server that never answers is an error in seconds, not a hang.

huggingface_hub's shared HTTP client has no timeout (`timeout=None`), so a Hub endpoint that accepts the
connection and never answers blocks a push, a model download or a dataset load forever; and its retry
loop would multiply any per-request timeout by six. `install_hub_timeouts()` (run when `hf_nlp` is
imported) gives that client bounded timeouts and a first-contact check: the first request to each
endpoint in a process is preceded by one quick request (`HF_NLP_HUB_TIMEOUT` seconds, default 10)
that must get some HTTP answer. An endpoint that gives none raises `HubNotAnswering`, which is not
retried, so every Hub operation (transformers, datasets and ours, which all use this client) ends
within seconds with one sentence naming HF_ENDPOINT. An endpoint that answered once keeps
per-request timeouts of `HUB_READ_TIMEOUT` seconds: slow uploads go on, a stalled one ends.
"""

from __future__ import annotations

import os
import threading
import time

HUB_TIMEOUT_ENV = "HF_NLP_HUB_TIMEOUT"
DEFAULT_ANSWER_TIMEOUT = 10.0
HUB_READ_TIMEOUT = 60.0


class HubNotAnswering(OSError):
    """The endpoint refused the connection, or accepted it and never answered, within the timeout.

    An OSError, as transformers and our loaders treat an unreachable Hub."""


def answer_timeout() -> float:
    try:
        return float(os.environ.get(HUB_TIMEOUT_ENV, DEFAULT_ANSWER_TIMEOUT))
    except ValueError:
        return DEFAULT_ANSWER_TIMEOUT


NOT_ANSWERING_REMEMBERED = 60.0
"""Seconds a silent endpoint stays known as silent: the retries inside one operation fail at once, and a
long-lived process (the Space) tries again later."""
_answered: dict[str, tuple[str | None, float]] = {}  # origin -> (why it is unusable, or None; when checked)
_lock = threading.Lock()


def _check_first_contact(request) -> None:
    """A request hook: before the first request to an endpoint, one quick HEAD must get an answer."""
    import httpx2

    origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
    with _lock:
        known = _answered.get(origin)
    if known is None or (known[0] and time.monotonic() - known[1] > NOT_ANSWERING_REMEMBERED):
        problem = None
        try:
            with httpx2.Client(timeout=answer_timeout()) as probe:
                probe.head(origin + "/")
        except httpx2.TimeoutException:
            problem = (f"the Hub at {origin} did not answer within {answer_timeout():g} s (check HF_ENDPOINT and your "
                       f"connection, or raise {HUB_TIMEOUT_ENV})")
        except httpx2.TransportError as error:  # refused, reset, unknown host
            problem = f"could not reach the Hub at {origin} ({error.__class__.__name__}: check HF_ENDPOINT and your connection)"
        known = (problem, time.monotonic())
        with _lock:
            _answered[origin] = known
    if known[0]:
        raise HubNotAnswering(known[0])


def install_hub_timeouts() -> None:
    """Make huggingface_hub's shared client use bounded timeouts and the first-contact check."""
    import httpx2
    from huggingface_hub import set_client_factory
    from huggingface_hub.utils import _http

    def client_factory() -> httpx2.Client:
        return httpx2.Client(
            event_hooks={"request": [_check_first_contact, _http.hf_request_event_hook]},
            follow_redirects=True,
            timeout=httpx2.Timeout(HUB_READ_TIMEOUT, connect=answer_timeout()),
        )

    set_client_factory(client_factory)


def not_answering_in(error: BaseException) -> HubNotAnswering | None:
    """The `HubNotAnswering` behind `error` (libraries re-raise it inside their own errors), if any."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, HubNotAnswering):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def forget_endpoints() -> None:
    """Forget which endpoints answered (tests that start and stop servers on one port)."""
    with _lock:
        _answered.clear()

LOCAL_PREFIXES = (".", "/", "~")
"""How a local path starts; a Hub id never does."""


def looks_like_hub_id(text: str) -> bool:
    """`owner/name` by the Hub's own rule (`validate_repo_id`) and not written as a local path. Whether a
    local file or folder of that name exists is the caller's question (a local one wins)."""
    from huggingface_hub.errors import HFValidationError  # lazy: hf_nlp's import must stay light (see above)
    from huggingface_hub.utils import validate_repo_id

    if text.count("/") != 1 or text.startswith(LOCAL_PREFIXES):
        return False
    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


__all__ = ["LOCAL_PREFIXES", "looks_like_hub_id", "HubNotAnswering", "install_hub_timeouts", "not_answering_in", "forget_endpoints", "answer_timeout", "HUB_TIMEOUT_ENV"]
