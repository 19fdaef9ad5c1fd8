"""WSGI entry point: `gunicorn app:app` serves hookkit configured from HOOKKIT_* variables.

`python app.py` is the same as `python -m connector serve`.
"""

from connector.cli import main

if __name__ == "__main__":
    main(["serve"])
else:
    from connector.cli.serve import wsgi_app

    app = wsgi_app()
