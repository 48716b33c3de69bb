"""Briefs: offline summaries, story merging and Telegram-safe rendering."""
