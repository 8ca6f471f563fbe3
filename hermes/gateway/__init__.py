"""The gateway: one profile served as an OpenAI-compatible HTTP API in front of its agent."""
