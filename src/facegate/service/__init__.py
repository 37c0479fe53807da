"""`facegate serve`: the HTTP API (app.py: routes only) and who may call it (auth.py: tokens, exposure, the
guessing defence)."""
