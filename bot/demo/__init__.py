"""Offline demo data: original, fictional feeds that `make run` serves on 127.0.0.1.

They exist so the whole pipeline can be shown without a Telegram token or the internet; the
texts are written for newsbrief (see feeds/README.md) and each file exercises one cleaning or
dedup case on purpose, so edit them with that in mind.
"""
