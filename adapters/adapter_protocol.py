"""What every detbench adapter script shares: reading the request and writing the response of
protocol detbench.external.v1 (docs/external.md). The adapters import it from their own folder,
which Python puts first on sys.path when it runs a script."""
import json
import sys

PROTOCOL = "detbench.external.v1"


def read_request(adapter):
    """The request named on the command line; exits with one line when its protocol differs."""
    with open(sys.argv[1]) as f:
        req = json.load(f)
    if req.get("protocol") != PROTOCOL:
        sys.exit(f"{adapter} adapter: protocol {req.get('protocol')!r}, expected {PROTOCOL}")
    return req


def respond(req, **fields):
    """Writes the response file; `status` defaults to ok."""
    fields.setdefault("protocol", PROTOCOL)
    fields.setdefault("status", "ok")
    with open(req["response"], "w") as f:
        json.dump(fields, f)
