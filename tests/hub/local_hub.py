"""A read-only Hugging Face Hub over HTTP on 127.0.0.1, serving repos from local folders.

It speaks the part of the Hub protocol that `huggingface_hub`, `datasets` and `transformers`
use to download (repo info, file trees, paths-info, resolve), so tests exercise the real Hub
code paths with `HF_ENDPOINT` pointing here, with no network and no mocks.

    with LocalHub({"datasets/someone/tiny": folder}) as hub:
        os.environ["HF_ENDPOINT"] = hub.url
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class LocalHub:
    def __init__(self, repos: dict[str, Path]):
        """`repos` maps `datasets/<id>` or `models/<id>` (or a bare model id) to a folder."""
        self.repos = {self._key(name): Path(folder) for name, folder in repos.items()}
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def _key(name: str) -> str:
        return name if name.startswith(("datasets/", "models/", "spaces/")) else f"models/{name}"

    def __enter__(self) -> LocalHub:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ protocol

    def _files(self, key: str) -> list[Path]:
        root = self.repos[key]
        return sorted(p for p in root.rglob("*") if p.is_file())

    def _entry(self, key: str, path: Path) -> dict:
        root = self.repos[key]
        data = path.read_bytes()
        return {"type": "file", "path": path.relative_to(root).as_posix(), "size": len(data),
                "oid": hashlib.sha1(data).hexdigest()}

    def _repo_info(self, key: str) -> dict:
        kind, repo_id = key.split("/", 1)
        root = self.repos[key]
        return {
            "id": repo_id, "_id": repo_id, "sha": COMMIT, "private": False, "disabled": False, "gated": False,
            "lastModified": "2026-01-01T00:00:00.000Z", "tags": [], "cardData": {}, "downloads": 0, "likes": 0,
            "siblings": [{"rfilename": p.relative_to(root).as_posix()} for p in self._files(key)],
        }

    def _tree(self, key: str, sub: str, recursive: bool) -> list[dict]:
        root = self.repos[key]
        base = root / sub if sub else root
        if not base.is_dir():
            return []
        children = base.rglob("*") if recursive else base.iterdir()
        entries = []
        for child in sorted(children):
            if child.is_file():
                entries.append(self._entry(key, child))
            else:
                entries.append({"type": "directory", "path": child.relative_to(root).as_posix(), "oid": COMMIT})
        return entries

    def _route(self, method: str, url: str, body: bytes) -> tuple[int, dict, bytes]:
        parsed = urlparse(url)
        path, recursive = parsed.path, "recursive=true" in parsed.query.lower() or "recursive=True" in parsed.query
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[:1] == ["api"] and len(parts) >= 4:
            kind = parts[1]
            key = f"{kind}/{parts[2]}/{parts[3]}"
            if key not in self.repos:
                return 404, {"X-Error-Code": "RepoNotFound"}, b'{"error": "Repository not found"}'
            rest = parts[4:]
            if not rest or rest[0] == "revision":
                return 200, {}, json.dumps(self._repo_info(key)).encode()
            if rest[0] == "tree":
                return 200, {}, json.dumps(self._tree(key, "/".join(rest[2:]), recursive)).encode()
            if rest[0] == "paths-info":
                wanted = json.loads(body or b"{}").get("paths", []) if body.startswith(b"{") else []
                if not wanted and body:
                    wanted = [unquote(v) for k, v in (kv.split("=", 1) for kv in body.decode().split("&")) if k == "paths"]
                root = self.repos[key]
                entries = [self._entry(key, root / w) for w in wanted if (root / w).is_file()]
                return 200, {}, json.dumps(entries).encode()
            return 404, {}, b'{"error": "not implemented by the local hub"}'
        # File downloads: /<id>/resolve/<rev>/<path> for models, /datasets/<id>/resolve/... for datasets.
        kind = parts[0] if parts[0] in ("datasets", "spaces") else "models"
        if kind != "models":
            parts = parts[1:]
        if len(parts) >= 5 and parts[2] == "resolve":
            key = f"{kind}/{parts[0]}/{parts[1]}"
            file = self.repos.get(key, Path("/nonexistent")) / "/".join(parts[4:])
            if key not in self.repos:
                return 404, {"X-Error-Code": "RepoNotFound"}, b"Repository not found"
            if not file.is_file():
                return 404, {"X-Error-Code": "EntryNotFound"}, b"Entry not found"
            data = file.read_bytes()
            etag = hashlib.sha1(data).hexdigest()
            return 200, {"X-Repo-Commit": COMMIT, "ETag": f'"{etag}"', "Content-Type": "application/octet-stream"}, data
        return 404, {}, b"not found"

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, send_body: bool) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                hub.requests.append(f"{self.command} {self.path}")
                status, headers, payload = hub._route(self.command, self.path, body)
                self.send_response(status)
                headers.setdefault("Content-Type", "application/json")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if send_body:
                    self.wfile.write(payload)

            def do_GET(self):
                self._serve(True)

            def do_POST(self):
                self._serve(True)

            def do_HEAD(self):
                self._serve(False)

            def log_message(self, *args):
                pass

        return Handler
