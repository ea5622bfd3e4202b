"""Local-mode helpers for the FM Gateway (Bedrock simulator, local wiring)."""
