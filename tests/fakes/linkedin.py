"""A small stateful LinkedIn (Posts API + OpenID userinfo) for tests, served by pytest-httpserver.

    fake = FakeLinkedIn(httpserver)               # fake.author_urn = "urn:li:person:<sub>"
    publisher = LinkedInPublisher(base_url=fake.base_url, access_token=fake.token,
                                  author_urn=fake.author_urn, ...)

Endpoints (Bearer token required, else 401 INVALID_ACCESS_TOKEN; /rest/ also needs a
`LinkedIn-Version: YYYYMM` header, else 400 VERSION_MISSING):
- POST /rest/posts: the Posts API body (author, commentary, visibility, distribution,
  lifecycleState); 201 with an empty body and `x-restli-id: urn:li:share:<n>`. 403 when the author
  is not the token's member (or its organization), 422 when a field is missing or the commentary
  repeats one of the author's posts ("Content is a duplicate of urn:li:share:...").
- GET /rest/posts?q=author&author=<urn>&count=<n>&sortBy=LAST_MODIFIED: {"elements": [...],
  "paging": {...}}, newest first; `fake.posts` holds what was created (oldest first).
- GET /v2/userinfo: OpenID Connect claims {"sub", "name", "given_name", "family_name", ...}.

Images (Microsoft Learn, "Images API", "Posts API", "MultiImage API"):
- POST /rest/images?action=initializeUpload {"initializeUploadRequest": {"owner"}}: 200 {"value":
  {"uploadUrlExpiresAt", "uploadUrl", "image": "urn:li:image:..."}}; 422 without an owner, 403
  for an owner that is not the member (or its organization). The upload URL is on another host
  in reality; here it is this server's /dms-uploads/... (`fake.upload_origin` moves it).
- PUT <uploadUrl> with the bytes and the Bearer token: 201, empty; 400 unless they are a JPG, PNG
  or GIF of fewer than 36,152,320 pixels. The image is then PROCESSING for
  `fake.processing_polls` asks, then AVAILABLE (PROCESSING_FAILED with `fake.fail_processing`).
- GET /rest/images/{urn}: {"id", "owner", "status", "downloadUrl" once AVAILABLE, ...}.
- POST /rest/posts with `content.media` {"id", "altText"} or `content.multiImage.images` (2-20 of
  them): each the author's AVAILABLE image, altText at most 4,086 characters; else 422. The post
  keeps its content, and the finder answers it. `fake.images` holds the uploads by URN.
OAuth 2.0 (tests.fakes.oauth2, `fake.oauth`): GET /oauth/v2/authorization redirects back with a
code; POST /oauth/v2/accessToken exchanges it or a refresh token (not rotated); each new access
token becomes the one the API accepts.
Failure knobs: see tests.fakes.base (they act on POST /rest/posts unless told a path).
"""

import io
import itertools
import time
from typing import Any

from PIL import Image, UnidentifiedImageError
from werkzeug import Request, Response

from tests.fakes.base import FakeHttpPlatform, json_response
from tests.fakes.oauth2 import OAuth2Grants

DEFAULT_TOKEN = "fake-linkedin-token-0123456789"
MAX_PIXELS = 36_152_320
ALT_TEXT_CHARS = 4086
IMAGE_FORMATS = {"JPEG", "PNG", "GIF"}


def _error(status: int, message: str, code: str | None = None) -> Response:
    body = {"status": status, "message": message}
    if code:
        body["code"] = code
    return json_response(body, status)


class FakeLinkedIn(FakeHttpPlatform):
    prefix = r"^/(rest|v2|dms-uploads|oauth)/"
    post_path = "/rest/posts"

    def __init__(self, httpserver, *, token: str = DEFAULT_TOKEN, sub: str = "abc123XYZ"):
        self.token = token
        self.oauth = OAuth2Grants(
            on_access=self._set_token,
            style="linkedin",
            scopes=frozenset({"openid", "profile", "email", "w_member_social"}),
        )
        self.userinfo = {
            "sub": sub,
            "name": "Ada Lovelace",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "email": "ada@example.com",
            "email_verified": True,
            "locale": {"country": "GB", "language": "en"},
        }
        self.author_urn = f"urn:li:person:{sub}"
        self.organization_urn = "urn:li:organization:2414183"
        self.posts: list[dict[str, Any]] = []
        self.images: dict[str, dict[str, Any]] = {}  # by URN
        self.processing_polls = 1
        self.fail_processing = False
        self._ids = itertools.count(7_200_000_000_000_000_001)
        self._image_ids = itertools.count(1)
        super().__init__(httpserver)
        self.upload_origin = self.base_url

    def add_post(
        self, commentary: str, *, author: str | None = None, content: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        with self._lock:
            urn = f"urn:li:share:{next(self._ids)}"
            post = {
                "id": urn,
                "author": author or self.author_urn,
                "commentary": commentary,
                "visibility": "PUBLIC",
                "lifecycleState": "PUBLISHED",
                "distribution": {"feedDistribution": "MAIN_FEED"},
                "isReshareDisabledByAuthor": False,
            }
            if content:
                post["content"] = content
            self.posts.append(post)
            return dict(post)

    def error_body(self, status: int) -> Any:
        return {"status": status, "message": f"Fake failure (HTTP {status})"}

    def _set_token(self, token: str) -> None:
        self.token = token

    def route(self, request: Request, method: str, path: str, body: Any) -> Response:
        if path == "/oauth/v2/authorization" and method == "GET":
            return self.oauth.authorize(request)
        if path == "/oauth/v2/accessToken":
            return self.oauth.token(request)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, "Invalid access token", "INVALID_ACCESS_TOKEN")
        if method == "GET" and path == "/v2/userinfo":
            return json_response(self.userinfo)
        if path.startswith("/rest/"):
            version = request.headers.get("LinkedIn-Version") or ""
            if not (len(version) == 6 and version.isdigit()):
                return _error(400, "A version must be present. Please specify a version.", "VERSION_MISSING")
        if path.startswith("/dms-uploads/") and method == "PUT":
            return self._receive(request, path)
        if path == "/rest/images" and method == "POST" and request.args.get("action") == "initializeUpload":
            return self._initialize(body)
        if path.startswith("/rest/images/") and method == "GET":
            return self._image(path.removeprefix("/rest/images/"))
        if path == "/rest/posts" and method == "POST":
            return self._create(body)
        if path == "/rest/posts" and method == "GET":
            return self._find(request)
        return _error(404, f"No resource found for {path}", "RESOURCE_NOT_FOUND")

    def _create(self, body: Any) -> Response:
        if not isinstance(body, dict):
            return _error(400, "Invalid JSON body")
        missing = [
            field
            for field in ("author", "commentary", "visibility", "distribution", "lifecycleState")
            if field not in body
        ]
        if missing:
            return _error(422, f"/{missing[0]} :: required field is missing", "UNPROCESSABLE_ENTITY")
        if body["author"] not in (self.author_urn, self.organization_urn):
            return _error(403, "Not enough permissions to do action on this author", "ACCESS_DENIED")
        content = body.get("content")
        if content is not None:
            problem = self._content_problem(content, author=body["author"])
            if problem:
                return _error(422, problem, "UNPROCESSABLE_ENTITY")
        with self._lock:
            for post in self.posts:
                if post["author"] == body["author"] and post["commentary"] == body["commentary"]:
                    return _error(422, f"Content is a duplicate of {post['id']}", "DUPLICATE_POST")
            post = self.add_post(str(body["commentary"]), author=body["author"], content=content)
        return Response(
            "", status=201, headers={"x-restli-id": post["id"], "Location": f"/rest/posts/{post['id']}"}
        )

    def _find(self, request: Request) -> Response:
        if request.args.get("q") != "author" or not request.args.get("author"):
            return _error(400, "Parameter q=author with an author is required", "ILLEGAL_ARGUMENT")
        author = request.args["author"]
        count = int(request.args.get("count", 10))
        with self._lock:
            found = [dict(p) for p in reversed(self.posts) if p["author"] == author][:count]
        return json_response({"elements": found, "paging": {"start": 0, "count": count, "links": []}})

    # Images -----------------------------------------------------------------------------------

    def _initialize(self, body: Any) -> Response:
        request_ = body.get("initializeUploadRequest") if isinstance(body, dict) else None
        owner = request_.get("owner") if isinstance(request_, dict) else None
        if not owner:
            return _error(422, "/initializeUploadRequest/owner :: field is required", "UNPROCESSABLE_ENTITY")
        if owner not in (self.author_urn, self.organization_urn):
            return _error(403, "Not enough permissions to do action on this owner", "ACCESS_DENIED")
        with self._lock:
            number = next(self._image_ids)
            urn = f"urn:li:image:C4E10AQFake{number:06d}"
            token = f"D4E10AQFake{number:06d}"
            self.images[urn] = {
                "id": urn,
                "owner": owner,
                "status": "WAITING_UPLOAD",
                "token": token,
                "content": None,
                "polls": 0,
            }
        upload_url = (
            f"{self.upload_origin}/dms-uploads/sp/v2/{token}/uploadedImage/0"
            "?ca=vector_feedshare&cn=uploads&m=AQFake&app=201094746&sync=0&v=beta&ut=2Fake"
        )
        expires = int(time.time() * 1000) + 86_400_000
        return json_response(
            {"value": {"uploadUrlExpiresAt": expires, "uploadUrl": upload_url, "image": urn}}
        )

    def _receive(self, request: Request, path: str) -> Response:
        parts = path.split("/")
        token = parts[4] if len(parts) > 4 else ""
        with self._lock:
            image = next((i for i in self.images.values() if i["token"] == token), None)
        if image is None or image["status"] != "WAITING_UPLOAD":
            return _error(400, "The upload URL is invalid or was used already", "INVALID_UPLOAD")
        content = request.get_data()
        try:
            picture = Image.open(io.BytesIO(content))
            picture.load()
        except (UnidentifiedImageError, OSError):
            return _error(400, "Unsupported image format: the file is not a JPG, PNG or GIF", "BAD_REQUEST")
        if picture.format not in IMAGE_FORMATS:
            return _error(400, f"Unsupported image format {picture.format}", "BAD_REQUEST")
        if picture.width * picture.height >= MAX_PIXELS:
            return _error(400, f"The image must have fewer than {MAX_PIXELS} pixels", "BAD_REQUEST")
        with self._lock:
            image.update(status="PROCESSING", content=content)
        return Response("", status=201)

    def _image(self, urn: str) -> Response:
        with self._lock:
            image = self.images.get(urn)
            if image is None:
                return _error(404, f"No image {urn}", "RESOURCE_NOT_FOUND")
            if image["status"] == "PROCESSING":
                image["polls"] += 1
                if image["polls"] >= self.processing_polls:
                    image["status"] = "PROCESSING_FAILED" if self.fail_processing else "AVAILABLE"
            answer = {"id": urn, "owner": image["owner"], "status": image["status"]}
        if answer["status"] == "AVAILABLE":
            answer["downloadUrl"] = (
                f"https://media.licdn.com/dms/image/{image['token']}/feedshare-shrink_800/0"
            )
            answer["downloadUrlExpiresAt"] = int(time.time() * 1000) + 86_400_000
        return json_response(answer)

    def _content_problem(self, content: Any, *, author: str) -> str | None:
        if not isinstance(content, dict):
            return "/content :: must be a record"
        if "media" in content:
            entries, where = [content["media"]], "/content/media"
        elif "multiImage" in content:
            multi = content["multiImage"]
            entries = multi.get("images") if isinstance(multi, dict) else None
            where = "/content/multiImage/images"
            if not isinstance(entries, list) or not 2 <= len(entries) <= 20:
                return f"{where} :: a MultiImage post has 2 to 20 images"
        else:
            return "/content :: no supported content"
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                return f"{where}/{index} :: must be a record"
            image = self.images.get(str(entry.get("id")))
            if image is None or image["owner"] != author:
                return f"{where}/{index}/id :: {entry.get('id')} is not an image of the author"
            if image["status"] != "AVAILABLE":
                return f"{where}/{index}/id :: {entry.get('id')} is not AVAILABLE ({image['status']})"
            alt = entry.get("altText")
            if alt is not None and (not isinstance(alt, str) or len(alt) > ALT_TEXT_CHARS):
                return f"{where}/{index}/altText :: at most {ALT_TEXT_CHARS} characters"
        return None
