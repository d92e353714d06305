"""A loopback HTTP/1.1 relay that writes every `POST /v1/events` body, byte for byte, as one
JSON line {"authorization_terminal": ..., "body": "<the body as sent>"} to a file.
Used once to record tests/corpus/pushes-2f1019b.jsonl (see record-2f1019b.sh)."""
import http.client
import http.server
import json
import sys

listen, upstream, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


class Relay(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def relay(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.command == "POST" and self.path == "/v1/events":
            with open(out, "a") as f:
                f.write(json.dumps({"body": body.decode("utf-8")}) + "\n")
        conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path, body=body or None, headers=headers)
        r = conn.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = relay

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", listen), Relay).serve_forever()
