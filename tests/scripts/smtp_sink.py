"""A real SMTP server for tenpo's tests (aiosmtpd), driven by tests/src/smtp.rs.

    python smtp_sink.py DIR

Listens on a free port of 127.0.0.1 and writes it to DIR/port once it accepts connections.
Each message accepted is kept as DIR/messages/NNNNNN.eml (the raw data as received) and
DIR/messages/NNNNNN.json (the envelope: {"mail_from", "rcpt_tos"}), the JSON written last, so a
reader that sees it sees the whole message. The reply to DATA is "250 2.0.0 Ok: queued as QNNNNNN".

DIR/control.json, read at every command, says what to refuse (each refusal given is appended
to DIR/refused.jsonl as {"address", "at", "reply"}):
    {"rules": [{"address": "a@b.example", "at": "mail" | "rcpt" | "data",
                "reply": "550 5.1.1 No such user"}            # answer this instead
               | {..., "at": "data", "action": "drop"}        # close the connection after 354
               | {..., "at": "data", "action": "stall"}]}     # never answer DATA
With "login": {"username", "password"} in it, MAIL needs AUTH (PLAIN or LOGIN, offered without
TLS on this loopback server) with those, else "530 5.7.0 Authentication required"; a wrong one
is "535 5.7.8 Authentication credentials invalid". Addresses compare without case. The server exits, and removes DIR, when the process that
started it is gone.
"""

import asyncio
import json
import os
import shutil
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

DIR = sys.argv[1]
MESSAGES = os.path.join(DIR, "messages")
COUNT = 0
# Taken first: if the test process is already gone, the server stops at once.
PARENT = os.getppid()


def write_atomically(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def control():
    try:
        with open(os.path.join(DIR, "control.json"), "rb") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def rule(address, at):
    for r in control().get("rules", []):
        if r.get("at") == at and r.get("address", "").lower() == (address or "").lower():
            return r
    return None


def refused(address, at, reply):
    with open(os.path.join(DIR, "refused.jsonl"), "a") as f:
        f.write(json.dumps({"address": address, "at": at, "reply": reply}) + "\n")
    return reply


def authenticator(server, session, envelope, mechanism, auth_data):
    login = control().get("login")
    ok = (
        login is not None
        and isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == login["username"]
        and auth_data.password.decode() == login["password"]
    )
    # Not "handled": aiosmtpd answers 235 or 535 itself.
    return AuthResult(success=ok, handled=False)


class Handler:
    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if control().get("login") and not session.authenticated:
            return "530 5.7.0 Authentication required"
        r = rule(address, "mail")
        if r and r.get("reply"):
            return refused(address, "mail", r["reply"])
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        r = rule(address, "rcpt")
        if r and r.get("reply"):
            return refused(address, "rcpt", r["reply"])
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        global COUNT
        for address in envelope.rcpt_tos:
            r = rule(address, "data")
            if r and r.get("reply"):
                return refused(address, "data", r["reply"])
            if r and r.get("action") == "stall":
                await asyncio.sleep(3600)
        COUNT += 1
        name = os.path.join(MESSAGES, "%06d" % COUNT)
        write_atomically(name + ".eml", envelope.original_content)
        envelope_json = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}
        write_atomically(name + ".json", json.dumps(envelope_json).encode())
        return "250 2.0.0 Ok: queued as Q%06d" % COUNT


class Sink(SMTP):
    async def smtp_DATA(self, arg):
        envelope = self.envelope
        if envelope is not None and any(
            (rule(a, "data") or {}).get("action") == "drop" for a in envelope.rcpt_tos
        ):
            # The client starts sending the message; the connection goes away under it.
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            self.transport.close()
            return
        await super().smtp_DATA(arg)


async def watch_parent(parent):
    while os.getppid() == parent:
        await asyncio.sleep(0.5)
    # The test process was killed: nobody else removes the directory.
    shutil.rmtree(DIR, ignore_errors=True)
    os._exit(0)


async def main():
    os.makedirs(MESSAGES, exist_ok=True)
    loop = asyncio.get_running_loop()
    handler = Handler()
    # A fixed name: aiosmtpd would otherwise ask DNS for this machine's, which can hang.
    server = await loop.create_server(
        lambda: Sink(
            handler,
            hostname="tenpo-sink",
            ident="tenpo-sink",
            decode_data=False,
            authenticator=authenticator,
            auth_require_tls=False,
        ),
        "127.0.0.1",
        0,
    )
    port = server.sockets[0].getsockname()[1]
    write_atomically(os.path.join(DIR, "port"), str(port).encode())
    await watch_parent(PARENT)


asyncio.run(main())
