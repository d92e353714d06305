"""tenpo's LINE webhook and stand-in, checked against LINE's official Python SDK (line-bot-sdk).

1. Webhook bodies in LINE's shapes are signed as the SDK's SignatureValidator checks them; the SDK
   parses each into its own event models; the hub takes every one, and refuses each with one byte
   changed (which the SDK refuses too).
2. The stand-in's signed webhooks (what tests deliver to the hub) pass the SDK's WebhookParser.
3. The stand-in's push answers and errors parse as the SDK's response models.

Usage: check.py HUB_URL STANDIN_URL CHANNEL_SECRET ACCESS_TOKEN
"""

import base64
import hashlib
import hmac
import http.server
import json
import sys
import threading
import urllib.error
import urllib.request

from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging.models import ErrorResponse, PushMessageResponse
from linebot.v3.webhook import SignatureValidator
from linebot.v3.webhooks import (
    AccountLinkEvent,
    FollowEvent,
    MessageEvent,
    PostbackEvent,
    UnfollowEvent,
)

HUB, STANDIN, SECRET, TOKEN = sys.argv[1:5]
USER = "U4af4980629000000000000000000000a"


def event(kind, n, **extra):
    e = {
        "type": kind,
        "mode": "active",
        "timestamp": 1_700_000_000_000 + n,
        "source": {"type": "user", "userId": USER},
        "webhookEventId": f"01HSDKCHECK{n:015d}",
        "deliveryContext": {"isRedelivery": False},
    }
    e.update(extra)
    return e


EVENTS = [
    (FollowEvent, event("follow", 1, replyToken="r1", follow={"isUnblocked": False})),
    (UnfollowEvent, event("unfollow", 2)),
    (FollowEvent, event("follow", 3, replyToken="r3", follow={"isUnblocked": True})),
    (
        MessageEvent,
        event(
            "message",
            4,
            replyToken="r4",
            message={"id": "4", "type": "text", "quoteToken": "q", "text": "ポイントは？"},
        ),
    ),
    (PostbackEvent, event("postback", 5, replyToken="r5", postback={"data": "action=card"})),
    (
        AccountLinkEvent,
        event("accountLink", 6, replyToken="r6", link={"result": "ok", "nonce": "n" * 16}),
    ),
]


def post(url, body, headers):
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


validator = SignatureValidator(SECRET)
parser = WebhookParser(SECRET)

# 1. Bodies the SDK signs and parses; the hub takes them, and refuses one changed byte.
for model, e in EVENTS:
    body = json.dumps({"destination": "U00000000000000000000000000000b07", "events": [e]},
                      ensure_ascii=False)
    signature = base64.b64encode(
        hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).digest()).decode()
    check(validator.validate(body, signature), f"{e['type']}: the SDK's validator accepts the signature")
    parsed = parser.parse(body, signature)
    check(len(parsed) == 1 and isinstance(parsed[0], model),
          f"{e['type']}: the SDK parses it as {model.__name__}")
    status, _ = post(f"{HUB}/line/webhook", body.encode(),
                     {"Content-Type": "application/json", "X-Line-Signature": signature})
    check(status == 200, f"{e['type']}: the hub takes it (got {status})")
    changed = body.replace(USER, USER[:-1] + "b")
    check(not validator.validate(changed, signature), f"{e['type']}: the SDK refuses one changed byte")
    status, _ = post(f"{HUB}/line/webhook", changed.encode(),
                     {"Content-Type": "application/json", "x-line-signature": signature})
    check(status == 401, f"{e['type']}: the hub refuses one changed byte (got {status})")

# 2. The stand-in's webhooks, caught here and parsed by the SDK.
caught = []


class Catch(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers["Content-Length"])
        caught.append((self.rfile.read(n).decode(), self.headers.get("X-Line-Signature")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Catch)
threading.Thread(target=server.serve_forever, daemon=True).start()
catch_url = f"http://127.0.0.1:{server.server_address[1]}/"
status, answer = post(f"{STANDIN}/standin/webhooks",
                      json.dumps({"url": catch_url, "events": [e for _, e in EVENTS]}).encode(),
                      {"Content-Type": "application/json"})
check(status == 200 and json.loads(answer)["status"] == 200, "the stand-in delivered a webhook")
body, signature = caught[0]
try:
    parsed = parser.parse(body, signature)
    check([type(p) for p in parsed] == [m for m, _ in EVENTS],
          "the stand-in's webhook passes the SDK's signature check and parses as LINE's events")
except InvalidSignatureError:
    check(False, "the stand-in's webhook signature is what the SDK checks")
server.shutdown()

# 3. The stand-in's Messaging API answers, in the SDK's models.
auth = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}",
        "X-Line-Retry-Key": "123e4567-e89b-12d3-a456-426614174000"}
push = json.dumps({"to": USER, "messages": [{"type": "text", "text": "ようこそ"}]}).encode()
status, answer = post(f"{STANDIN}/v2/bot/message/push", push, auth)
check(status == 200 and len(PushMessageResponse.from_json(answer.decode()).sent_messages) == 1,
      "a push answer parses as the SDK's PushMessageResponse")
status, answer = post(f"{STANDIN}/v2/bot/message/push", push, auth)
check(status == 409 and ErrorResponse.from_json(answer.decode()).message,
      "a replayed retry key is 409 with an ErrorResponse")
too_many = json.dumps({"to": USER, "messages": [{"type": "text", "text": "x"}] * 6}).encode()
status, answer = post(f"{STANDIN}/v2/bot/message/push", too_many,
                      {**auth, "X-Line-Retry-Key": "123e4567-e89b-12d3-a456-426614174001"})
err = ErrorResponse.from_json(answer.decode())
check(status == 400 and err.details and err.details[0].var_property == "messages",
      "six messages are 400 with an ErrorResponse naming `messages`")

print(f"line-bot-sdk check: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
