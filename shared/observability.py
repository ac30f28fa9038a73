"""Logger, Metrics and Tracer singletons shared by every function.

X-Ray tracing is opt-in (template parameter `Tracing`, which sets POWERTOOLS_TRACE_DISABLED):
the X-Ray SDK alone costs ~140 ms of import time, more than the rest of a handler. When tracing
is off, `tracer` is a no-op with the same decorators, so handlers keep one decorator stack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from aws_lambda_powertools import Logger, Metrics

from shared.settings import metrics_namespace, tracing_enabled

F = TypeVar("F", bound=Callable[..., Any])


class TracerPort(Protocol):
    def capture_lambda_handler(self, lambda_handler: F | None = None, **kwargs: Any) -> Any: ...

    def capture_method(self, method: F | None = None, **kwargs: Any) -> Any: ...

    def put_annotation(self, key: str, value: str | int | bool) -> None: ...


class _NoTracer:
    """Tracer stand-in used when tracing is disabled: decorators return the function unchanged."""

    def capture_lambda_handler(self, lambda_handler: F | None = None, **_: Any) -> Any:
        return lambda_handler if lambda_handler is not None else (lambda fn: fn)

    def capture_method(self, method: F | None = None, **_: Any) -> Any:
        return method if method is not None else (lambda fn: fn)

    def put_annotation(self, key: str, value: str | int | bool) -> None:
        return None


def _make_tracer() -> TracerPort:
    if not tracing_enabled():
        return _NoTracer()
    from aws_lambda_powertools import Tracer

    tracer: Any = Tracer()
    return tracer  # type: ignore[no-any-return]


logger = Logger()
metrics = Metrics(namespace=metrics_namespace())
tracer = _make_tracer()
