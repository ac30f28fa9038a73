"""Environment every benchmark sets before importing the project: no real AWS, no tracing."""

from __future__ import annotations

import os
import warnings

REGION = "us-east-1"


def use_offline_aws() -> None:
    """Dummy credentials, moto-friendly endpoint mode, quiet Powertools; call before other imports."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "HelpdeskBench",
            "POWERTOOLS_SERVICE_NAME": "helpdesk-bench",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
