"""Ingestion: fetch → parse → extract → clean → dedup → store, one stage a module."""
