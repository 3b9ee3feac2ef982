"""What both example apps need, on Python's standard library: HTTP posts, a WebSocket subscription, and a minimal
WebSocket client (RFC 6455: masked client frames, text, ping/pong, close). Real apps use a WebSocket library; this one
keeps the examples free of installs."""

import base64
import datetime
import json
import os
import socket
import struct
import sys
import urllib.error
import urllib.parse
import urllib.request


def post(url, body, content_type):
    """POSTs a body; returns the status and the answer's text, for errors too."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def subscribe(url, fields):
    """Subscribes over WebSocket (a form POST to the hub), opens the endpoint it answers, and returns the socket."""
    form = urllib.parse.urlencode(dict(fields, **{"hub.mode": "subscribe", "hub.channel.type": "websocket"})).encode()
    status, body = post(url, form, "application/x-www-form-urlencoded")
    if status != 202:
        sys.exit("subscribe refused (%d): %s" % (status, body))
    endpoint = json.loads(body)["hub.channel.endpoint"]
    print("subscribed; endpoint", endpoint, flush=True)
    return WebSocket(endpoint)


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def patient(patient_id):
    """The context of a Patient-open or -close: one patient."""
    return [{"key": "patient", "resource": {"resourceType": "Patient", "id": patient_id}}]


class WebSocket:
    def __init__(self, url, timeout=30):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "ws":
            raise ValueError("the examples speak ws:// only (castbridge without TLS): %s" % url)
        host, port = parts.hostname, parts.port or 80
        path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key)
        )
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("the server closed the connection during the upgrade")
            head += chunk
        status = head.split(b"\r\n", 1)[0].decode()
        if " 101 " not in status + " ":
            raise ConnectionError("the upgrade was refused: %s" % status)

    def _read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("the server closed the connection")
            data += chunk
        return data

    def _send(self, opcode, payload):
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send_json(self, value):
        self._send(0x1, json.dumps(value).encode())

    def recv_json(self):
        """The next text message as JSON; None when the server closed the socket."""
        message = b""
        while True:
            first, second = self._read(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(length)
            if opcode == 0x8:
                return None
            if opcode == 0x9:
                self._send(0xA, payload)
                continue
            if opcode in (0x1, 0x0):
                message += payload
                if first & 0x80:
                    return json.loads(message.decode())

    def close(self):
        try:
            self._send(0x8, struct.pack(">H", 1000))
        finally:
            self.sock.close()
