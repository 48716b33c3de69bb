"""The Telegram side: the PTB Application, its handlers, fan-out and delivery.

Not called ``telegram``: that name would shadow python-telegram-bot itself.
"""
