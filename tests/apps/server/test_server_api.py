"""The REST API through FastAPI's TestClient, with real worker processes."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="lift3d serve needs the [web] extra")
pytest.importorskip("httpx", reason="the API tests need httpx")

import trimesh  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402
from serverkit import FAST, MUG, png_bytes, wait_state  # noqa: E402

from lift3d.apps.server import ServerConfig, create_app  # noqa: E402
from lift3d.apps.server.app import DataDirInUse, lock_data_dir  # noqa: E402

TOKEN = "test-token-123"


def _client(tmp: Path, **kw) -> TestClient:
    return TestClient(create_app(ServerConfig(data_dir=tmp, **kw)),
                      raise_server_exceptions=False)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A server with one real worker, shared by the life-cycle tests."""
    data = tmp_path_factory.mktemp("serve")
    with _client(data, workers=1) as client:
        yield client, data


@pytest.fixture
def idle(tmp_path):
    """A server whose workers never start: jobs stay queued."""
    with _client(tmp_path / "data", start_workers=False, max_queue=2) as client:
        yield client, tmp_path / "data"


def _mug(name: str = "mug.jpg", ctype: str = "image/jpeg"):
    return ("files", (name, MUG.read_bytes(), ctype))


# ------------------------------------------------------------------ life cycle


def test_job_life_cycle(live):
    client, data = live
    r = client.post("/v1/jobs", files=[_mug()],
                    data={**FAST, "formats": "glb,usdz,obj,stl", "height": "0.12"})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] in ("queued", "running") and job["mode"] == "image"
    assert job["options"]["formats"] == ["glb", "usdz", "obj", "stl"]
    assert job["inputs"] == [{"name": "mug.jpg", "size": MUG.stat().st_size,
                              "content_type": "image/jpeg"}]
    seen_stages = set()

    def get(url):
        resp = client.get(url)
        seen_stages.add(resp.json()["progress"]["stage"])
        return resp

    done = wait_state(get, job["id"], ("done", "failed"))
    assert done["state"] == "done", done["error"]
    assert done["progress"]["percent"] == 100.0
    assert {"load", "segment", "shape", "mesh", "texture", "formats"} <= {
        t["stage"] for t in done["timings"]}
    stats = done["stats"]
    assert stats["watertight"] and 2000 < stats["faces"] <= 3100
    assert stats["size_m"][1] == pytest.approx(0.12, rel=1e-3)
    assert stats["texture_size"] == 256
    names = [f["name"] for f in done["files"]]
    assert names == ["model.glb", "model.usdz", "model_obj.zip", "model.stl", "preview.png"]
    assert done["expires"] is not None and done["finished"] is not None

    glb = client.get(f"/v1/jobs/{job['id']}/files/model.glb")
    assert glb.status_code == 200 and glb.headers["content-type"] == "model/gltf-binary"
    assert "attachment" in glb.headers["content-disposition"]
    scene = trimesh.load(io.BytesIO(glb.content), file_type="glb")
    assert sum(len(g.faces) for g in scene.geometry.values()) == stats["faces"]
    z = zipfile.ZipFile(io.BytesIO(client.get(f"/v1/jobs/{job['id']}/files/model_obj.zip")
                                   .content))
    assert {"model.obj", "model.mtl"} <= set(z.namelist())
    assert any(n.endswith(".png") for n in z.namelist())
    usdz = client.get(f"/v1/jobs/{job['id']}/files/model.usdz")
    assert usdz.content[:2] == b"PK"
    png = Image.open(io.BytesIO(client.get(f"/v1/jobs/{job['id']}/files/preview.png").content))
    assert png.size[0] > 100

    listing = client.get("/v1/jobs").json()
    assert job["id"] in [j["id"] for j in listing["jobs"]]

    # Server-sent events of a finished job: one event with the final state, then the end.
    with client.stream("GET", f"/v1/jobs/{job['id']}/events") as s:
        assert s.headers["content-type"].startswith("text/event-stream")
        text = "".join(s.iter_text())
    events = [e for e in text.split("\n\n") if e.startswith("event: job")]
    assert json.loads(events[-1].split("data: ", 1)[1])["state"] == "done"

    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204
    assert client.get(f"/v1/jobs/{job['id']}").status_code == 404
    assert not (data / "jobs" / job["id"]).exists()
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 404


def test_events_follow_a_running_job(live):
    client, _ = live
    # Default options: a job of a few seconds, long enough to see several stages.
    job = client.post("/v1/jobs", files=[_mug()]).json()
    states, stages = [], []
    with client.stream("GET", f"/v1/jobs/{job['id']}/events") as s:
        for block in s.iter_text():
            for event in block.split("\n\n"):
                if event.startswith("event: job"):
                    body = json.loads(event.split("data: ", 1)[1])
                    states.append(body["state"])
                    stages.append(body["progress"]["stage"])
    assert states[-1] == "done"
    assert len(set(stages)) >= 3, stages  # progress arrived stage by stage
    client.delete(f"/v1/jobs/{job['id']}")


def test_a_preset_job_reports_its_check(live):
    client, _ = live
    job = client.post("/v1/jobs", files=[_mug()], data={**FAST, "preset": "AR"}).json()
    assert job["options"]["preset"] == "ar"
    done = wait_state(client.get, job["id"], ("done", "failed"))
    assert done["state"] == "done", done["error"]
    check = done["stats"]["preset_check"]
    assert check["preset"] == "ar" and check["passed"], check
    names = [f["name"] for f in done["files"]]
    assert names[:2] == ["model.glb", "model.usdz"] and names[-1] == "preview.png"


def test_a_photo_with_no_object_fails_with_its_reason(live):
    client, _ = live
    job = client.post("/v1/jobs", files=[("files", ("blank.png", png_bytes(), "image/png"))],
                      data=FAST).json()
    done = wait_state(client.get, job["id"], ("done", "failed"))
    assert done["state"] == "failed"
    assert done["error"]["code"] == "no_object"
    assert "Traceback" not in done["error"]["message"]
    assert done["files"] == []


def test_delete_stops_a_running_job_and_the_worker_goes_on(live):
    client, data = live
    job = client.post("/v1/jobs", files=[_mug()], data={"texture_size": "2048"}).json()
    wait_state(client.get, job["id"], ("running",), poll=0.02)
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204
    assert client.get(f"/v1/jobs/{job['id']}").status_code == 404
    nxt = client.post("/v1/jobs", files=[_mug()], data=FAST).json()
    assert wait_state(client.get, nxt["id"], ("done", "failed"))["state"] == "done"
    assert not (data / "jobs" / job["id"]).exists()
    assert client.get("/healthz").json()["workers"]["alive"] == 1


def test_pagination(idle):
    client, _ = idle
    ids = [client.post("/v1/jobs", files=[_mug()]).json()["id"] for _ in range(2)]
    first = client.get("/v1/jobs", params={"limit": 1}).json()
    assert [j["id"] for j in first["jobs"]] == [ids[1]] and first["next_cursor"]
    second = client.get("/v1/jobs", params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert [j["id"] for j in second["jobs"]] == [ids[0]] and second["next_cursor"] is None
    assert client.get("/v1/jobs", params={"cursor": "garbage!"}).status_code == 422
    assert client.get("/v1/jobs", params={"limit": 0}).status_code == 422


# ------------------------------------------------------------------ bad input


def test_full_queue_is_429(idle):
    client, _ = idle
    a = client.post("/v1/jobs", files=[_mug()])
    b = client.post("/v1/jobs", files=[_mug()])
    assert (a.status_code, b.status_code) == (202, 202)
    assert (a.json()["queue_position"], client.get(f"/v1/jobs/{b.json()['id']}")
            .json()["queue_position"]) == (0, 1)
    c = client.post("/v1/jobs", files=[_mug()])
    assert c.status_code == 429
    assert c.json()["error"]["code"] == "queue_full"
    assert int(c.headers["retry-after"]) > 0
    assert client.get("/healthz").json()["queue"] == {"queued": 2, "running": 0, "limit": 2}


def test_oversize_upload_is_413(tmp_path):
    with _client(tmp_path / "d", start_workers=False, max_upload_bytes=100_000) as client:
        big = ("files", ("big.jpg", b"\xff\xd8\xff" + bytes(200_000), "image/jpeg"))
        r = client.post("/v1/jobs", files=[big])
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"

        # Chunked: no Content-Length, so the limit is counted while reading.
        def chunks():
            for _ in range(50):
                yield b"x" * 10_000

        r = client.post("/v1/jobs", content=chunks(),
                        headers={"content-type": "multipart/form-data; boundary=zzz"})
        assert r.status_code == 413, r.text
        assert list((tmp_path / "d" / "jobs").iterdir()) == []


@pytest.mark.parametrize("part, code, status", [
    (("x.txt", b"hello world, not an image", "text/plain"), "unsupported_type", 415),
    (("x.jpg", b"hello world, not an image", "image/jpeg"), "unsupported_type", 415),
    (("x.bin", b"hello world, not an image", "application/octet-stream"),
     "unsupported_type", 415),
    (("mug.png", None, "image/png"), "unsupported_type", 415),  # JPEG bytes called PNG
    (("x.html", b"<html><script>alert(1)</script>", "text/html"), "unsupported_type", 415),
])
def test_wrong_content_type_is_415(idle, part, code, status):
    client, data = idle
    name, body, ctype = part
    r = client.post("/v1/jobs", files=[("files", (name, body or MUG.read_bytes(), ctype))])
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert list((data / "jobs").iterdir()) == []


def test_truncated_images_are_422(idle):
    client, _ = idle
    jpeg = MUG.read_bytes()[:15_000]
    png = png_bytes(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8))
    for name, body, ctype in (("cut.jpg", jpeg, "image/jpeg"),
                              ("cut.png", png[: len(png) // 2], "image/png")):
        r = client.post("/v1/jobs", files=[("files", (name, body, ctype))])
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "invalid_image"
        assert name in r.json()["error"]["message"]


def test_decompression_bomb_is_413(idle):
    client, _ = idle
    buf = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(buf, format="PNG")  # 144 Mpx in ~20 kB
    assert len(buf.getvalue()) < 100_000
    r = client.post("/v1/jobs", files=[("files", ("bomb.png", buf.getvalue(), "image/png"))])
    assert r.status_code == 413 and "144,000,000 pixels" in r.json()["error"]["message"]


@pytest.mark.parametrize("name", ["../../../../etc/passwd.jpg", "..\\..\\win.ini.jpg",
                                  "/abs/path/x.jpg", "....//x.jpg", "a\x00b.jpg", "\u202e.jpg"])
def test_path_traversal_names_are_neutralised(idle, name):
    client, data = idle
    r = client.post("/v1/jobs", files=[("files", (name, MUG.read_bytes(), "image/jpeg"))])
    assert r.status_code == 202, r.text
    job = r.json()
    shown = job["inputs"][0]["name"]
    assert "/" not in shown and "\\" not in shown and not shown.startswith(".")
    # Only the job's own folder was written, under a name the server made.
    assert [p.name for p in (data / "jobs").iterdir()] == [job["id"]]
    assert [p.name for p in (data / "jobs" / job["id"] / "input").iterdir()] == ["000.jpg"]
    for bad in ("..%2F..%2Fjobs.sqlite", "%2e%2e", "input%2F000.jpg", "000.jpg"):
        assert client.get(f"/v1/jobs/{job['id']}/files/{bad}").status_code == 404
    assert client.get("/v1/jobs/..%2F..%2Fetc/files/passwd").status_code == 404


@pytest.mark.parametrize("form, fragment", [
    ({"faces": "3"}, "faces"),
    ({"texture_size": "99999"}, "texture_size"),
    ({"height": "-1"}, "height"),
    ({"formats": "glb,fbx"}, "formats"),
    ({"preset": "cinema"}, "preset"),
    ({"mode": "sculpt"}, "mode"),
    ({"mode": "photos"}, "at least 3 images"),
])
def test_bad_options_are_422(idle, form, fragment):
    client, _ = idle
    r = client.post("/v1/jobs", files=[_mug()], data=form)
    assert r.status_code == 422, r.text
    assert fragment in r.json()["error"]["message"]


def test_missing_files_and_video_with_images(idle):
    client, _ = idle
    assert client.post("/v1/jobs", data=FAST).status_code == 422
    video = ("files", ("clip.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(64), "video/mp4"))
    r = client.post("/v1/jobs", files=[video, _mug()])
    assert r.status_code == 422 and "not both" in r.json()["error"]["message"]
    r = client.post("/v1/jobs", files=[video])
    assert r.status_code == 202 and r.json()["mode"] == "photos"


# ------------------------------------------------------------------ token, CORS, errors


ENDPOINTS = [("GET", "/v1/jobs"), ("GET", "/v1/info"), ("POST", "/v1/jobs"),
             ("POST", "/v1/segment"), ("GET", "/v1/jobs/" + "0" * 32),
             ("GET", "/v1/jobs/" + "0" * 32 + "/events"),
             ("GET", "/v1/jobs/" + "0" * 32 + "/files/model.glb"),
             ("DELETE", "/v1/jobs/" + "0" * 32)]


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic dXNlcjpwYXNz",
                                    "Bearer", TOKEN])
def test_token_is_required_on_every_endpoint_but_health(tmp_path, header):
    with _client(tmp_path / "d", start_workers=False, token=TOKEN) as client:
        headers = {"Authorization": header} if header else {}
        for method, url in ENDPOINTS:
            r = client.request(method, url, headers=headers)
            assert r.status_code == 401, (method, url, r.status_code)
            assert r.json()["error"]["code"] == "unauthorized"
            assert r.headers["www-authenticate"] == "Bearer"
        assert client.get("/healthz").status_code == 200
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert client.get("/v1/jobs", headers=good).status_code == 200
        assert client.post("/v1/jobs", files=[_mug()], headers=good).status_code == 202


def test_cors_is_off_unless_asked(tmp_path):
    origin = {"Origin": "https://shop.example"}
    with _client(tmp_path / "a", start_workers=False) as client:
        assert "access-control-allow-origin" not in client.get("/v1/jobs", headers=origin).headers
    with _client(tmp_path / "b", start_workers=False,
                 cors_origins=("https://shop.example",)) as client:
        r = client.get("/v1/jobs", headers=origin)
        assert r.headers["access-control-allow-origin"] == "https://shop.example"


def test_internal_errors_are_json_without_traceback(idle):
    client, _ = idle

    class Broken:
        def __getattr__(self, name):
            raise RuntimeError("secret internals /srv/db password=hunter2")

    state = client.app.state.lift3d
    real, state.store = state.store, Broken()
    try:
        r = client.get("/v1/jobs")
    finally:
        state.store = real
    assert r.status_code == 500
    body = r.json()
    assert body["error"]["code"] == "internal" and "request id" in body["error"]["message"]
    assert "hunter2" not in r.text and "Traceback" not in r.text
    assert r.headers["x-request-id"] in body["error"]["message"]


def test_unknown_routes_and_methods_give_json(idle):
    client, _ = idle
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.put("/v1/jobs")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_one_server_per_data_dir(idle):
    _, data = idle
    with pytest.raises(DataDirInUse, match="in use"):
        lock_data_dir(ServerConfig(data_dir=data))


# ------------------------------------------------------------------ page, info, segment


def test_health_info_openapi_and_page(idle):
    client, _ = idle
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["version"]
    info = client.get("/v1/info").json()
    assert info["formats"] == ["glb", "usdz", "obj", "ply", "stl"]
    assert "ar" in info["presets"]
    spec = client.get("/openapi.json").json()
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/files/{name}",
            "/v1/jobs/{job_id}/events"} <= set(spec["paths"])
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "https://" not in page.text.split("<body", 1)[0]  # no CDN in the head
    assert client.get("/static/..%2Fpyproject.toml").status_code == 404
    assert client.get("/static/package.json").status_code == 404  # not a page asset


def test_segment_preview(idle):
    client, _ = idle
    r = client.post("/v1/segment", files=[("file", ("mug.jpg", MUG.read_bytes(), "image/jpeg"))])
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    im = np.asarray(Image.open(io.BytesIO(r.content)))
    assert im.shape[2] == 4 and max(im.shape[:2]) <= 512
    alpha = im[..., 3]
    assert alpha[0, 0] == 0 and alpha[im.shape[0] // 2, im.shape[1] // 2] == 255
    r = client.post("/v1/segment", files=[("file", ("blank.png", png_bytes(), "image/png"))])
    assert r.status_code == 422 and r.json()["error"]["code"] == "no_object"
    r = client.post("/v1/segment", files=[("file", ("x.txt", b"text", "text/plain"))])
    assert r.status_code == 415


# ------------------------------------------------------------------ photos, timeout, retention


def test_photos_mode_job(live, shared_data):
    """The 11 sceaux_castle photos (480 px) through the API: SfM, depth, fusion, texture."""
    import cv2

    client, _ = live
    src = sorted((shared_data / "multiview" / "sceaux_castle").glob("*.JPG"))
    if len(src) < 8:
        pytest.skip("sceaux_castle photos missing")
    parts = []
    for p in src:
        img = cv2.imread(str(p))
        scale = 480 / max(img.shape[:2])
        small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        parts.append(("files", (p.name, cv2.imencode(".jpg", small)[1].tobytes(),
                                "image/jpeg")))
    r = client.post("/v1/jobs", files=parts, data={"faces": "5000", "texture_size": "512"})
    assert r.status_code == 202, r.text
    assert r.json()["mode"] == "photos" and len(r.json()["inputs"]) == len(src)
    done = wait_state(client.get, r.json()["id"], ("done", "failed"), timeout=300, poll=0.5)
    assert done["state"] == "done", done["error"]
    assert {"sfm", "depth", "fuse", "texture"} <= {t["stage"] for t in done["timings"]}
    assert done["stats"]["scale_known"] is False  # no height given: said, not hidden
    assert [f["name"] for f in done["files"]][0] == "model.glb"
    glb = client.get(done["files"][0]["url"].replace("v1/", "/v1/", 1))
    assert glb.status_code == 200 and glb.content[:4] == b"glTF"


def test_jobs_past_the_timeout_are_stopped(tmp_path):
    with _client(tmp_path / "d", workers=1, job_timeout_s=0.3) as client:
        job = client.post("/v1/jobs", files=[_mug()], data={"texture_size": "2048"}).json()
        failed = wait_state(client.get, job["id"], ("done", "failed"))
        assert failed["state"] == "failed" and failed["error"]["code"] == "timeout"
        # The stopped worker is replaced and takes the next job.
        nxt = client.post("/v1/jobs", files=[_mug()], data=FAST).json()
        assert wait_state(client.get, nxt["id"], ("running", "done", "failed"))


def test_finished_jobs_expire_after_the_retention(tmp_path):
    data = tmp_path / "d"
    with _client(data, workers=1, retention_s=0.5) as client:
        job = client.post("/v1/jobs", files=[_mug()], data=FAST).json()
        assert wait_state(client.get, job["id"], ("done", "failed"))["state"] == "done"
        assert client.get(f"/v1/jobs/{job['id']}/files/model.glb").status_code == 200
        time.sleep(0.6)
        assert client.app.state.lift3d.pool.sweep() == [job["id"]]
        gone = client.get(f"/v1/jobs/{job['id']}").json()
        assert gone["state"] == "expired" and gone["files"] == []
        assert client.get(f"/v1/jobs/{job['id']}/files/model.glb").status_code == 404
        assert not (data / "jobs" / job["id"]).exists()
