"""Explore rendered in the browser: G exported to ONNX and handed to one page through URLs only it knows.

    browser = BrowserRender()
    offer = browser.offer(key, ex)      # {"base": "ganlab/explore/<token>/", ...} or {"server": "why not"}
    browser.forget(key)                 # the page left (or opened another model): its URLs stop working
    routes = browser.routes()           # the app's extra routes: launch(app_kwargs={"routes": routes})
    HEAD                                # the page's <script> tags: launch(head=HEAD)

Under ``base`` a page (having claimed it) finds meta.json (shapes, class names, the GANSpace
directions, a style model's w_avg and layer groups), the ONNX files (g.onnx,
or mapping.onnx and synthesis.onnx for a style model) and ``z?seeds=1,2``
(each seed's noise as the server draws it, Explorer.z, so a seed is the same
image on both paths). static/explore.js does every slider's vector sums and
runs G with onnxruntime-web; the server renders what the page cannot (noise
modes, a projected image, a model whose export failed, a browser without
WebAssembly).

A token is a secret of one browser session: made when it opens a model (and
sent to that session only, as the output of its own Gradio event), dropped
when it opens another model or leaves. The page's first request, ``<base>claim``,
binds the token to that browser with an HttpOnly cookie, so a URL that leaks
(a log, a shared screen) opens nothing elsewhere. Under ``--auth`` a request
must also carry the signed-in cookie of the account that opened the model.
"""
from __future__ import annotations

import logging
import secrets
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..errors import GanlabError
from ..explore import Explorer
from ..export import export_onnx, export_style_onnx

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "ganlab/explore"            # URLs are relative to the page, so a --root-path proxy keeps working
MAX_SEEDS = 64                       # seeds one z request may ask for
COOKIE = "ganlab-explore"            # set per grant path by <base>claim
# ort.wasm.min.js defines the global ``ort``; explore.js drives it (and falls back to the server without it)
HEAD = ('<script src="ganlab/static/ort/ort.wasm.min.js"></script>\n'
        '<script src="ganlab/static/explore.js"></script>')


@dataclass
class Grant:
    key: str                         # the browser session it was made for
    owner: str                       # the Identity.owner that opened the model ("user:alice", "browser:...")
    folder: Path                     # the export's files
    files: Tuple[str, ...]
    z: Callable[[int], Any]          # seed -> [z_dim] noise (Explorer.z)
    cookie: Optional[str] = None     # the secret of the one browser that claimed it (an HttpOnly cookie)


class BrowserRender:
    def __init__(self, n_directions: int = 5, cache: Optional[Path] = None,
                 where: Callable[[Explorer], str] = lambda ex: str(ex.source)):
        self.n_directions = n_directions
        self.where = where               # a model as the page's info line names it (no server paths)
        self.cache = Path(cache) if cache is not None else Path(tempfile.mkdtemp(prefix="ganlab-onnx-"))
        self._exports: Dict[Tuple[str, int], Tuple[Path, Dict]] = {}     # (model source, step) -> (folder, meta)
        self._grants: Dict[str, Grant] = {}                              # token -> grant
        self._lock = threading.Lock()
        self._export_lock = threading.Lock()

    # ---- offering a model to one page ----------------------------------------------------------------
    def offer(self, key: str, ex: Explorer, owner: str = "") -> Dict[str, Any]:
        """What the page needs to render ``ex`` itself, or why it should leave that to the server."""
        try:
            folder, meta = self.export(ex)
        except Exception as e:                           # any export failure: the server path still works
            self.forget(key)
            log.warning("no browser rendering for %s: %s", ex.source, e)
            return {"server": "this model could not be exported to ONNX"}
        with self._lock:
            mine = [t for t, g in self._grants.items() if g.key == key]
            same = [t for t in mine if self._grants[t].folder == folder and self._grants[t].owner == owner]
            for t in mine:                               # one model per page: the last one opened
                if t not in same:
                    del self._grants[t]
            token = same[0] if same else secrets.token_urlsafe(24)   # the same model again: the page keeps it
            if not same:
                self._grants[token] = Grant(key, owner, folder, tuple(meta["files"]), ex.z)
        return {"base": f"{PREFIX}/{token}/", "kind": meta["kind"], "model": self.where(ex)}

    def forget(self, key: str) -> None:
        with self._lock:
            for token in [t for t, g in self._grants.items() if g.key == key]:
                del self._grants[token]

    def grant(self, token: str) -> Optional[Grant]:
        with self._lock:
            return self._grants.get(token)

    def export(self, ex: Explorer) -> Tuple[Path, Dict]:
        """The ONNX files and meta.json of a model, made once per model and step and shared by every page."""
        tag = (str(ex.source), int(ex.step))
        with self._export_lock:
            if tag not in self._exports:
                folder = Path(tempfile.mkdtemp(prefix="model-", dir=self.cache))
                meta = self._export(ex, folder)
                self._exports[tag] = (folder, meta)
            return self._exports[tag]

    def _export(self, ex: Explorer, folder: Path) -> Dict:
        import json
        k = self.n_directions
        shape = list(ex.render(ex.z(0)).shape[1:])                        # [C, H, W]
        meta: Dict[str, Any] = {"z_dim": ex.z_dim, "shape": shape}
        if ex.style:
            export_style_onnx(ex.G, folder)
            d = ex.w_directions(k)
            meta.update(kind="style", files=["mapping.onnx", "synthesis.onnx"], w_dim=ex.G.w_dim,
                        num_ws=ex.G.num_ws, w_avg=ex.G.w_avg.float().cpu().tolist(),
                        layer_groups={g: ex.G.layer_group(g) for g in ("coarse", "middle", "fine")})
        else:
            export_onnx(ex.G, folder / "g.onnx")
            d = ex.directions(k)
            meta.update(kind="plain", files=["g.onnx"], conditional=ex.conditional,
                        class_names=ex.class_names if ex.conditional else [])
        # [k, z_dim] (or [k, w_dim]) unit vectors and [k] sigmas: a slider at a moves by a * scale * vector
        meta["directions"] = {"vectors": d.vectors[:k].float().tolist(), "scales": d.scales[:k].float().tolist()}
        (folder / "meta.json").write_text(json.dumps(meta))
        return meta

    # ---- serving ------------------------------------------------------------------------------------
    def routes(self) -> List:
        from starlette.routing import Mount, Route
        from starlette.staticfiles import StaticFiles
        return [Route(f"/{PREFIX}/{{token}}/{{name}}", self._serve, methods=["GET"]),
                Mount("/ganlab/static", app=StaticFiles(directory=STATIC), name="ganlab-static")]

    def _serve(self, request):
        from starlette.responses import FileResponse, JSONResponse, PlainTextResponse
        grant = self.grant(request.path_params["token"])
        if grant is None:                                 # unknown, or its page opened another model or left
            return PlainTextResponse("Not found.", status_code=404)
        if grant.owner.startswith("user:") and f"user:{signed_in(request)}" != grant.owner:
            return PlainTextResponse("This model was opened by another account.", status_code=403)
        name = request.path_params["name"]
        if name == "claim":
            return self._claim(grant, request)
        mine = grant.cookie is not None and secrets.compare_digest(request.cookies.get(COOKIE, ""), grant.cookie)
        if not mine:                                      # not the browser that claimed it: a leaked URL is no use
            return PlainTextResponse("This model was opened in another browser.", status_code=403)
        private = {"Cache-Control": "private, max-age=3600"}
        if name == "z":
            try:
                seeds = parse_seeds(request.query_params.get("seeds", ""))
            except GanlabError as e:
                return PlainTextResponse(str(e), status_code=400)
            return JSONResponse({str(s): grant.z(s).float().tolist() for s in seeds}, headers=private)
        if name == "meta.json" or name in grant.files:
            return FileResponse(grant.folder / name, headers=private,
                                media_type="application/json" if name.endswith(".json") else "application/octet-stream")
        return PlainTextResponse("Not found.", status_code=404)


    def _claim(self, grant: Grant, request):
        """The first request for a grant (the page that was offered it) gets its cookie; nobody after it does.
        The cookie is HttpOnly and only sent under the grant's own path."""
        from starlette.responses import PlainTextResponse, Response
        with self._lock:
            if grant.cookie is None:
                grant.cookie = secrets.token_urlsafe(24)
                response = Response(status_code=204)
                response.set_cookie(COOKIE, grant.cookie, path=request.url.path.rsplit("/", 1)[0] + "/",
                                    httponly=True, samesite="strict")
                return response
        if secrets.compare_digest(request.cookies.get(COOKIE, ""), grant.cookie):
            return Response(status_code=204)                 # the same browser again (the model reopened)
        return PlainTextResponse("This model was opened in another browser.", status_code=403)


def parse_seeds(text: str) -> List[int]:
    """"1,2,3" -> [1, 2, 3]: whole numbers in Explore's seed range, at most MAX_SEEDS of them."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise GanlabError("Seeds must be whole numbers separated by commas.") from None
    if not 1 <= len(seeds) <= MAX_SEEDS:
        raise GanlabError(f"Ask for 1 to {MAX_SEEDS} seeds at a time.")
    if any(not 0 <= s < 2 ** 31 for s in seeds):
        raise GanlabError("Seeds must be between 0 and 2,147,483,647.")
    return seeds


def signed_in(request) -> Optional[str]:
    """The account of a request to the Gradio app, from Gradio's own login cookie (None when signed out)."""
    app = request.app
    cookie = getattr(app, "cookie_id", None)
    tokens = getattr(app, "tokens", None)
    if cookie is None or not tokens:
        return None
    token = request.cookies.get(f"access-token-{cookie}") or request.cookies.get(f"access-token-unsecure-{cookie}")
    return tokens.get(token)
