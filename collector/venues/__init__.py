"""One module per venue with a native decoder: its websocket URLs, limits and messages, and pure
functions from the venue's JSON (REST rows, websocket frames) to our records' values."""
