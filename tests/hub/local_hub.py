"""A Hugging Face Hub over HTTP on 127.0.0.1: repos, revisions, private repos and token auth.

It speaks the part of the Hub protocol that `huggingface_hub`, `datasets` and `transformers`
call to download (repo info, revisions, file trees, paths-info, resolve) and to upload (whoami,
create repo, create branch, preupload, commit), so tests exercise the real Hub code paths with
`HF_ENDPOINT` pointing here, with no network and no mocks.

    with LocalHub({"datasets/someone/tiny": folder}, users={"hf_alice": "alice"}) as hub:
        os.environ["HF_ENDPOINT"] = hub.url

Repos given up front are served from their folders as one commit on `main`, owned by their
namespace. Every commit pushed afterwards is a full snapshot of the repo in a temp folder under
a new sha, so `main` moves and older revisions stay readable. Files are always accepted as
"regular" (base64 inside the commit), which the client is bound to follow: no LFS or Xet.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"
KINDS = {"models": "model", "datasets": "dataset", "spaces": "space"}


@dataclass
class Repo:
    owner: str
    private: bool = False
    commits: dict[str, Path] = field(default_factory=dict)  # sha -> folder holding that commit's files
    branches: dict[str, str] = field(default_factory=dict)  # branch -> sha

    def folder(self, revision: str) -> Path | None:
        sha = self.branches.get(revision, revision)
        return self.commits.get(sha)

    def sha(self, revision: str) -> str | None:
        sha = self.branches.get(revision, revision)
        return sha if sha in self.commits else None


class Response(Exception):
    """An HTTP answer raised from deep in a route (errors, mostly)."""

    def __init__(self, status: int, payload: dict | bytes, headers: dict | None = None):
        self.status, self.headers = status, headers or {}
        self.payload = payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def _not_found(what: str = "Repository not found", status: int = 404) -> Response:
    code = "RepoNotFound" if what.startswith("Repository") else "RevisionNotFound"
    return Response(status, {"error": what}, {"X-Error-Code": code})


class LocalHub:
    def __init__(self, repos: dict[str, Path] | None = None, users: dict[str, str] | None = None):
        """`repos` maps `datasets/<id>` or `models/<id>` (or a bare model id) to a folder;
        `users` maps access tokens to user names (who may write to their own namespace)."""
        self.users = dict(users or {})
        self.repos: dict[str, Repo] = {}
        for name, folder in (repos or {}).items():
            key = self._key(name)
            self.repos[key] = Repo(owner=key.split("/")[1], commits={COMMIT: Path(folder)}, branches={"main": COMMIT})
        self.requests: list[str] = []
        self.storage = Path(tempfile.mkdtemp(prefix="local_hub_"))
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def _key(name: str) -> str:
        return name if name.startswith(tuple(f"{kind}/" for kind in KINDS)) else f"models/{name}"

    def __enter__(self) -> LocalHub:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.storage, ignore_errors=True)

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """Path -> content of a repo at a revision (for assertions)."""
        root = self.repos[self._key(repo_id)].folder(revision)
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    # ------------------------------------------------------------------ auth

    def _user(self, headers) -> str | None:
        auth = headers.get("Authorization") or ""
        token = auth.removeprefix("Bearer ").strip()
        if token and token not in self.users:
            raise Response(401, {"error": "Invalid credentials in Authorization header"})
        return self.users.get(token)

    def _readable(self, key: str, headers) -> Repo:
        repo, user = self.repos.get(key), self._user(headers)
        if repo is None or (repo.private and user != repo.owner):  # as the Hub: private repos look absent
            raise _not_found(status=401 if user is None else 404)
        return repo

    def _writable(self, key: str, headers) -> Repo:
        user = self._user(headers)
        if user is None:
            raise Response(401, {"error": "You must be authenticated to write to a repo"})
        repo = self.repos.get(key)
        if repo is None:
            raise _not_found()
        if repo.owner != user:
            raise Response(403, {"error": f"You don't have the rights to write to {key.split('/', 1)[1]}"})
        return repo

    # ------------------------------------------------------------------ read

    @staticmethod
    def _entry(root: Path, path: Path) -> dict:
        data = path.read_bytes()
        return {"type": "file", "path": path.relative_to(root).as_posix(), "size": len(data),
                "oid": hashlib.sha1(data).hexdigest()}

    def _repo_info(self, key: str, repo: Repo, revision: str) -> dict:
        root, sha = repo.folder(revision), repo.sha(revision)
        if root is None:
            raise _not_found(f"Invalid rev id: {revision}")
        repo_id = key.split("/", 1)[1]
        return {
            "id": repo_id, "_id": repo_id, "sha": sha, "private": repo.private, "disabled": False, "gated": False,
            "lastModified": "2026-01-01T00:00:00.000Z", "tags": [], "cardData": {}, "downloads": 0, "likes": 0,
            "siblings": [{"rfilename": p.relative_to(root).as_posix()} for p in sorted(root.rglob("*")) if p.is_file()],
        }

    def _tree(self, repo: Repo, revision: str, sub: str, recursive: bool) -> list[dict]:
        root = repo.folder(revision)
        if root is None:
            raise _not_found(f"Invalid rev id: {revision}")
        base = root / sub if sub else root
        if not base.is_dir():
            return []
        children = base.rglob("*") if recursive else base.iterdir()
        return [self._entry(root, child) if child.is_file()
                else {"type": "directory", "path": child.relative_to(root).as_posix(), "oid": COMMIT}
                for child in sorted(children)]

    # ------------------------------------------------------------------ write

    def _create_repo(self, body: dict, headers) -> dict:
        user = self._user(headers)
        if user is None:
            raise Response(401, {"error": "You must be authenticated to create a repo"})
        namespace = body.get("organization") or user
        kind = {"model": "models", "dataset": "datasets", "space": "spaces"}[body.get("type") or "model"]
        key = f"{kind}/{namespace}/{body['name']}"
        if namespace != user:
            raise Response(403, {"error": f"You don't have the rights to create a {kind[:-1]} under the namespace "
                                          f"\"{namespace}\""})
        with self.lock:
            if key in self.repos:
                raise Response(409, {"error": "You already created this model repo", "url": f"{self.url}/{key}"})
            empty = self.storage / hashlib.sha1(key.encode()).hexdigest()
            empty.mkdir(parents=True)
            private = body.get("private") is True or body.get("visibility") == "private"
            sha = hashlib.sha1(f"{key}:init".encode()).hexdigest()
            self.repos[key] = Repo(owner=user, private=private, commits={sha: empty}, branches={"main": sha})
        prefix = "" if kind == "models" else f"{kind}/"
        return {"url": f"{self.url}/{prefix}{namespace}/{body['name']}", "name": f"{namespace}/{body['name']}"}

    def _commit(self, key: str, repo: Repo, branch: str, body: bytes) -> dict:
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        with self.lock:
            parent = repo.sha(branch)
            if parent is None or branch not in repo.branches:
                raise _not_found(f"Invalid rev id: {branch}")
            sha = hashlib.sha1(parent.encode() + body).hexdigest()
            snapshot = self.storage / sha
            shutil.copytree(repo.commits[parent], snapshot)
            for line in lines:
                value = line["value"]
                if line["key"] == "file":
                    target = snapshot / value["path"]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(base64.b64decode(value["content"]))
                elif line["key"] in ("deletedFile", "deletedFolder"):
                    path = snapshot / value["path"]
                    shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
                elif line["key"] == "lfsFile":
                    raise Response(400, {"error": "this local hub only accepts regular uploads"})
            repo.commits[sha] = snapshot
            repo.branches[branch] = sha
        return {"success": True, "commitOid": sha, "commitUrl": f"{self.url}/{key.split('/', 1)[1]}/commit/{sha}",
                "commitMessage": lines[0]["value"].get("summary", "") if lines else ""}

    @staticmethod
    def _validate_card(content: str) -> dict:
        """As the Hub: the card's YAML metadata must parse to a mapping, and a model-index to results."""
        from huggingface_hub import ModelCard

        try:
            metadata = ModelCard(content).data.to_dict()
        except Exception as error:  # noqa: BLE001  (any parse failure is the client's error)
            raise Response(400, {"errors": [{"message": str(error)}]}) from None
        return {"errors": [], "warnings": [] if metadata else [{"message": "empty metadata"}]}

    # ------------------------------------------------------------------ routing

    def _route(self, method: str, url: str, body: bytes, headers) -> tuple[int, dict, bytes]:
        parsed = urlparse(url)
        query = parse_qs(parsed.query)
        parts = [unquote(p) for p in parsed.path.strip("/").split("/")]
        if parts == ["api", "whoami-v2"]:
            user = self._user(headers)
            if user is None:
                raise Response(401, {"error": "Invalid credentials in Authorization header"})
            return 200, {}, json.dumps({"type": "user", "name": user, "fullname": user, "orgs": [],
                                        "auth": {"type": "access_token",
                                                 "accessToken": {"displayName": "test", "role": "write"}}}).encode()
        if parts == ["api", "validate-yaml"] and method == "POST":  # the README.md front matter of a commit
            return 200, {}, json.dumps(self._validate_card(json.loads(body)["content"])).encode()
        if parts == ["api", "repos", "create"] and method == "POST":
            return 200, {}, json.dumps(self._create_repo(json.loads(body or b"{}"), headers)).encode()
        if parts[:1] == ["api"] and len(parts) >= 4 and parts[1] in KINDS:
            key = f"{parts[1]}/{parts[2]}/{parts[3]}"
            rest = parts[4:]
            if method == "POST" and rest[:1] in (["preupload"], ["commit"], ["branch"]):
                repo = self._writable(key, headers)
                if rest[0] == "preupload":
                    files = json.loads(body)["files"]
                    return 200, {}, json.dumps({"files": [{"path": f["path"], "uploadMode": "regular",
                                                           "shouldIgnore": False, "oid": None} for f in files]}).encode()
                if rest[0] == "commit":
                    return 200, {}, json.dumps(self._commit(key, repo, "/".join(rest[1:]) or "main", body)).encode()
                with self.lock:  # branch
                    name, start = "/".join(rest[1:]), json.loads(body or b"{}").get("startingPoint") or "main"
                    if name in repo.branches:
                        raise Response(409, {"error": f"Reference already exists: {name}"})
                    repo.branches[name] = repo.sha(start)
                return 200, {}, b"{}"
            repo = self._readable(key, headers)
            if not rest:
                return 200, {}, json.dumps(self._repo_info(key, repo, "main")).encode()
            if rest[0] == "revision":
                return 200, {}, json.dumps(self._repo_info(key, repo, "/".join(rest[1:]))).encode()
            if rest[0] == "tree":
                recursive = query.get("recursive", ["false"])[0].lower() == "true"
                return 200, {}, json.dumps(self._tree(repo, rest[1], "/".join(rest[2:]), recursive)).encode()
            if rest[0] == "paths-info":
                if body.startswith(b"{"):
                    wanted = json.loads(body).get("paths", [])
                else:
                    wanted = parse_qs(body.decode()).get("paths", [])
                root = repo.folder(rest[1] if len(rest) > 1 else "main")
                if root is None:
                    raise _not_found(f"Invalid rev id: {rest[1]}")
                return 200, {}, json.dumps([self._entry(root, root / w) for w in wanted if (root / w).is_file()]).encode()
            return 404, {}, b'{"error": "not implemented by the local hub"}'
        # File downloads: /<id>/resolve/<rev>/<path> for models, /datasets/<id>/resolve/... for datasets.
        kind = parts[0] if parts[0] in ("datasets", "spaces") else "models"
        if kind != "models":
            parts = parts[1:]
        if len(parts) >= 5 and parts[2] == "resolve":
            key = f"{kind}/{parts[0]}/{parts[1]}"
            repo = self._readable(key, headers)
            root, sha = repo.folder(parts[3]), repo.sha(parts[3])
            if root is None:
                raise _not_found(f"Invalid rev id: {parts[3]}")
            file = root / "/".join(parts[4:])
            if not file.is_file():
                return 404, {"X-Error-Code": "EntryNotFound"}, b"Entry not found"
            data = file.read_bytes()
            etag = hashlib.sha1(data).hexdigest()
            return 200, {"X-Repo-Commit": sha, "ETag": f'"{etag}"', "Content-Type": "application/octet-stream"}, data
        return 404, {}, b"not found"

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, send_body: bool) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                hub.requests.append(f"{self.command} {self.path}")
                try:
                    status, headers, payload = hub._route(self.command, self.path, body, self.headers)
                except Response as answer:
                    status, headers, payload = answer.status, answer.headers, answer.payload
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
