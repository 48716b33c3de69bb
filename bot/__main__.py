"""``python -m bot`` runs the newsbrief CLI."""

from bot.cli import main

main()
