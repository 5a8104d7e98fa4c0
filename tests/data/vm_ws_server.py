"""Runs INSIDE a test VM (stdlib only: the VM has the host's python3, not the venv).

`python3 vm_ws_server.py PORT`: a WebSocket echo server (text and binary echoed with their type; the
text "close-me" makes the server close with 4000 "bye"; the close code the client sends is written
to /tmp/ws-closed) and `GET /events`, a server-sent event stream that sends its first event, then
waits until /tmp/release exists before the last one.
"""

import base64
import hashlib
import os
import struct
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self.websocket()
        elif self.path == "/events":
            self.events()
        else:
            self.send_error(404)

    def events(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.chunk(b"data: first\n\n")
        while not os.path.exists("/tmp/release"):
            time.sleep(0.05)
        self.chunk(b"data: last\n\n")
        self.chunk(b"")

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def websocket(self):
        key = self.headers["Sec-WebSocket-Key"].encode()
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        offered = [p.strip() for p in self.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        if "echo" in offered:
            self.send_header("Sec-WebSocket-Protocol", "echo")
        self.end_headers()
        self.wfile.flush()
        while True:
            opcode, payload = self.read_frame()
            if opcode in (1, 2):
                if payload == b"close-me":
                    self.send_frame(8, struct.pack("!H", 4000) + b"bye")
                    self.read_frame()  # the client's answering close frame
                    return
                self.send_frame(opcode, payload)
            elif opcode == 9:
                self.send_frame(10, payload)
            elif opcode == 8:
                with open("/tmp/ws-closed", "w") as out:
                    out.write(str(struct.unpack("!H", payload[:2])[0]) if payload else "none")
                self.send_frame(8, payload[:2])
                return

    def read_frame(self):
        head = self.rfile.read(2)
        opcode, length = head[0] & 0x0F, head[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", self.rfile.read(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self.rfile.read(8))[0]
        mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
        data = self.rfile.read(length)
        return opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(data))

    def send_frame(self, opcode, payload):
        length = len(payload)
        if length < 126:
            head = struct.pack("!BB", 0x80 | opcode, length)
        elif length < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 126, length)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, length)
        self.wfile.write(head + payload)
        self.wfile.flush()


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
