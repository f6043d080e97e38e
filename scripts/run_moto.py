"""Serve moto on HOST PORT with one request at a time.

moto_server answers requests on many threads, and its DynamoDB conditional
put checks the condition and writes the item in two steps, so two
concurrent conditional puts on one key can both succeed under load: the
50-goroutine optimistic-concurrency test caught lost commits that real
DynamoDB (atomic conditional writes) never produces. Serving one request at
a time makes every moto operation atomic, as the real services are.
"""
import sys

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False, use_reloader=False)


if __name__ == "__main__":
    main()
