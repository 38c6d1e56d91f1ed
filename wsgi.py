"""Entry point for gunicorn and `flask --app wsgi`."""
import gc

from survey import create_app, warm_up

app = create_app()
warm_up(app)

# What is loaded by now (Flask, SQLAlchemy, pandas & co.) lives as long as the process. Frozen,
# it is left out of the collector's full passes, which otherwise stop a worker for ~150 ms
# every few hundred requests; under `gunicorn --preload` it also stays shared with the workers.
gc.freeze()
