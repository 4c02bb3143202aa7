"""An example PSA-side receiver for the Partner Support Portal's webhooks.

It shows the four things every receiver must do (docs/psa-integration.md explains why):

1. verify the Standard Webhooks signature before trusting anything (401 and nothing stored if not);
2. process each ``webhook-id`` once: retries and redeliveries of one event carry the same id;
3. keep one ticket per ``consolidation_key``, created by the first event and updated by the next;
4. answer 2xx once the event is stored (204 here), and 503 when it could not be stored, so that
   the portal tries again later.

The "PSA" is a SQLite file with a ``tickets`` table; a real integration would call its PSA's API
where this file writes a row. It needs only the standard library and ``standardwebhooks``:

    pip install standardwebhooks
    python docs/examples/psa_receiver.py --port 9000 --secret whsec_...
    # or PSA_WEBHOOK_SECRET, PSA_RECEIVER_PORT, PSA_RECEIVER_DB in the environment
"""

import argparse
import json
import os
import sqlite3
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError

MAX_BODY_BYTES = 1_000_000  # events are a few kilobytes; refuse anything huge without reading it

SCHEMA = """
CREATE TABLE IF NOT EXISTS processed (
    webhook_id TEXT PRIMARY KEY,  -- remembered in the same transaction as the ticket change
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tickets (
    consolidation_key TEXT PRIMARY KEY,  -- one ticket per key
    company_id TEXT,                     -- from psa_company; NULL when the event names none
    status TEXT NOT NULL,
    summary TEXT NOT NULL,
    last_event_type TEXT NOT NULL,
    last_event_at TEXT NOT NULL,         -- the event's own time, to ignore overtaken events
    updates INTEGER NOT NULL             -- how many events this ticket has taken in
);
"""

# Insert the ticket, or update it unless it already holds a newer event: a retried delivery can
# arrive after a later event about the same object, and must not roll the ticket back.
UPSERT = """
INSERT INTO tickets (consolidation_key, company_id, status, summary, last_event_type,
                     last_event_at, updates)
VALUES (?, ?, ?, ?, ?, ?, 1)
ON CONFLICT (consolidation_key) DO UPDATE SET
    company_id = excluded.company_id, status = excluded.status, summary = excluded.summary,
    last_event_type = excluded.last_event_type, last_event_at = excluded.last_event_at,
    updates = tickets.updates + 1
WHERE excluded.last_event_at >= tickets.last_event_at
"""


def utc_iso(value):
    """An ISO 8601 time as fixed-width UTC text, so SQLite can compare it as a string."""
    return datetime.fromisoformat(value).astimezone(UTC).isoformat(timespec="microseconds")


def store(db_path, webhook_id, event):
    """Apply one verified event; return what happened, in a few words."""
    data = event["data"]
    db = sqlite3.connect(db_path, timeout=30)
    try:
        with db:  # one transaction: the id is remembered only if the ticket change is too
            now = datetime.now(UTC).isoformat()
            cursor = db.execute("INSERT OR IGNORE INTO processed VALUES (?, ?)", (webhook_id, now))
            if cursor.rowcount == 0:
                return "duplicate, ignored"
            if data.get("test"):  # the portal's "Send test event": proves the wiring, no ticket
                return "test event, no ticket"
            company = data.get("psa_company") or {}
            row = (
                data["consolidation_key"],
                company.get("company_id"),
                (data.get("object") or {}).get("status") or event["type"],
                data["summary"],
                event["type"],
                utc_iso(event["timestamp"]),
            )
            if db.execute(UPSERT, row).rowcount == 0:
                return "older than the ticket's last event, ignored"
            (updates,) = db.execute(
                "SELECT updates FROM tickets WHERE consolidation_key = ?", (row[0],)
            ).fetchone()
            return f"ticket {'created' if updates == 1 else 'updated'} ({updates} updates)"
    finally:
        db.close()


class Receiver(BaseHTTPRequestHandler):
    webhook = None  # set in main()
    db_path = None

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 <= length <= MAX_BODY_BYTES:
            return self.answer(413, "body too large")
        body = self.rfile.read(length)
        webhook_id = self.headers.get("webhook-id", "-")
        try:
            # Checks the signature(s) over id, timestamp and the raw body, and that the timestamp
            # is within 5 minutes of our clock; only then is the body parsed.
            self.webhook.verify(body, dict(self.headers), json_parse=False)
        except (WebhookVerificationError, ValueError) as exc:  # ValueError: malformed headers
            return self.answer(401, f"{webhook_id} rejected: {exc}")
        try:
            event = json.loads(body)
            outcome = store(self.db_path, webhook_id, event)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            # Signed by the portal but not an event we understand: keep nothing and say so.
            return self.answer(400, f"{webhook_id} unusable event: {exc!r}")
        except sqlite3.Error as exc:
            # Our side failed: 503 asks the portal to retry later (with backoff).
            return self.answer(503, f"{webhook_id} not stored: {exc}")
        data = event["data"]
        key = data.get("consolidation_key")
        company = (data.get("psa_company") or {}).get("company_id") or "unmapped"
        self.answer(204, f"{webhook_id} {event['type']} {key} company={company}: {outcome}")

    def answer(self, status, line):
        print(f"{datetime.now(UTC):%H:%M:%S} {status} {line}", flush=True)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass  # answer() already printed one line per request


class Server(ThreadingHTTPServer):
    # The stdlib backlog is 5; a portal delivering in parallel would see connection resets.
    request_queue_size = 128


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PSA_RECEIVER_PORT", 9000)),
        help="port (default 9000, or PSA_RECEIVER_PORT; 0 picks a free one)",
    )
    parser.add_argument(
        "--secret",
        default=os.environ.get("PSA_WEBHOOK_SECRET"),
        help="the subscription's signing secret, whsec_... (or PSA_WEBHOOK_SECRET)",
    )
    parser.add_argument(
        "--db",
        default=os.environ.get("PSA_RECEIVER_DB", "psa_tickets.sqlite3"),
        help="the SQLite file standing in for the PSA (or PSA_RECEIVER_DB)",
    )
    args = parser.parse_args()
    if not args.secret:
        parser.error("give the signing secret with --secret or PSA_WEBHOOK_SECRET")
    try:
        Receiver.webhook = Webhook(args.secret)
    except Exception as exc:  # the library raises several kinds for a bad secret
        parser.error(f"the secret is not a whsec_... value: {exc}")
    Receiver.db_path = args.db
    db = sqlite3.connect(args.db)
    db.executescript(SCHEMA)
    db.close()
    server = Server((args.host, args.port), Receiver)
    host, port = server.server_address[:2]
    print(f"Listening on http://{host}:{port}/, tickets in {args.db}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
