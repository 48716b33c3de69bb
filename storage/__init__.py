"""Persistence for newsbrief. Knows nothing of Telegram or HTTP; imports nothing from ``bot``."""
