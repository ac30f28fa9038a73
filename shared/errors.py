"""Domain errors. Adapters raise these `from` the underlying cause; edges map them to transport."""


class HelpdeskError(Exception):
    """Base class of every error the helpdesk raises on purpose."""


class ConfigError(HelpdeskError):
    """The helpdesk config or a function's settings are invalid."""


class InvalidEventError(HelpdeskError):
    """An incoming event does not have the shape AWS documents."""


class RawMessageNotFoundError(HelpdeskError):
    """The raw message an SES notification points to is not in the bucket."""


class ConflictError(HelpdeskError):
    """A conditional write lost a race; the use case may be retried."""


class TicketNotFoundError(HelpdeskError):
    """No ticket has that id, number or message reference."""


class PermanentWriteError(HelpdeskError):
    """A write DynamoDB refused for a reason that no retry can change (an item over 400 KB, a key
    over its size limit, a value it cannot store). The input is quarantined, never retried."""
