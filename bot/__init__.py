"""newsbrief: a self-hosted Telegram bot that publishes condensed news briefs."""

__version__ = "0.1.0"
