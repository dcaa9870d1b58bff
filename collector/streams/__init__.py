"""Streaming mode: the owner of an exchange's websocket connections, shared by both decoders."""
