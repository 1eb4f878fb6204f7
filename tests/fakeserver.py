"""A real HTTP server on 127.0.0.1 that answers from a queue: for testing clients against recorded or
misbehaving servers."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeServer:
    """Serves a queue of (status, content_type, body) answers; records requests. A body may be a function of
    the response's file, which writes it at its own pace (a server that trickles)."""

    def __init__(self):
        self.answers: list[tuple[int, str, bytes]] = []
        self.requests: list[dict] = []
        self.delay: threading.Event | None = None
        """When set, each answer waits for this event (to test clients' timeouts)."""
        self.model_list: bytes | None = b'{"data": [{"id": "m"}]}'
        """The answer to ``GET .../models`` (which clients send to learn the model's facts), served without
        taking from the queue or being recorded; None: such requests are answered from the queue too."""
        self.listings = 0
        self.tokenize = None
        """A function of a text to its token count: ``POST /tokenize`` (llama.cpp's, at the root) is answered
        with that many tokens; each text is kept in ``tokenized``. None: it is answered 404, as a server
        without it does (vLLM's differs, LM Studio and Ollama have none). Never from the queue, never in
        ``requests``; ``tokenize_asked`` counts the requests."""
        self.tokenized: list[str] = []
        self.tokenize_asked = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                if self.command == "GET" and self.path.endswith("/models") and outer.model_list is not None:
                    outer.listings += 1
                    return self._send(200, "application/json", outer.model_list)
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path == "/tokenize":
                    outer.tokenize_asked += 1
                    if outer.tokenize is None:
                        return self._send(404, "application/json", b'{"error": {"message": "File Not Found"}}')
                    outer.tokenized.append(body["content"])
                    tokens = list(range(outer.tokenize(body["content"])))
                    return self._send(200, "application/json", json.dumps({"tokens": tokens}).encode())
                outer.requests.append({"path": self.path, "body": body, "auth": self.headers.get("authorization")})
                status, kind, payload = outer.answers.pop(0)
                if outer.delay is not None:
                    outer.delay.wait(10)
                self._send(status, kind, payload)

            def _send(self, status, kind, payload):
                if callable(payload):
                    self.send_response(status)
                    self.send_header("content-type", kind)
                    self.send_header("connection", "close")
                    self.end_headers()
                    try:
                        payload(self.wfile)
                    except OSError:  # the client hung up (what a deadline does)
                        pass
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # Clients that hang up on purpose (timeout tests) are not errors worth printing.
        self.httpd.handle_error = lambda request, client_address: None
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
