"""What the HTTP APIs agents call share (agent_api, reports): who calls, and the one error shape."""
