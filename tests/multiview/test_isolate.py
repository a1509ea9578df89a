"""lift3d.multiview.isolate: the object frame and region from synthetic sparse models
(cameras around an object, on a ground, in front of a facade), moved into an arbitrary
"SfM" frame by a random rigid motion so no test leans on the world axes."""

from __future__ import annotations

import numpy as np
import pytest

from lift3d.multiview.isolate import Region, convergence_point, find_region
from lift3d.multiview.types import View, cam_from_world_looking_at

UP = np.array([0.0, 1.0, 0.0])  # the scene's up before the random motion


def look_at(center, target, up=UP, f: float = 300.0, w: int = 320, h: int = 240,
            name: str = "v") -> View:
    """A pinhole view at ``center`` looking at ``target``, world ``up`` towards row 0."""
    K = np.array([[f, 0.0, (w - 1) / 2], [0.0, f, (h - 1) / 2], [0.0, 0.0, 1.0]])
    return View(name, K, cam_from_world_looking_at(center, target, up), w, h)


def random_rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


class Motion:
    """``x' = Q x + T``, applied to points and to views (``cam_from_world`` composed with
    its inverse)."""

    def __init__(self, seed: int = 0, translation=None):
        self.Q = random_rotation(seed)
        rng = np.random.default_rng(seed + 100)
        self.T = rng.uniform(-3, 3, 3) if translation is None else np.asarray(translation)

    def points(self, p: np.ndarray) -> np.ndarray:
        return np.asarray(p) @ self.Q.T + self.T

    def direction(self, d) -> np.ndarray:
        return self.Q @ np.asarray(d, dtype=np.float64)

    def view(self, v: View) -> View:
        R = v.R @ self.Q.T
        return View(v.name, v.K, np.column_stack([R, v.t - R @ self.T]), v.width, v.height)


def object_points(n: int = 400, seed: int = 0) -> np.ndarray:
    """Points on the surface of a box 1 wide, 1 high (y in [0.05, 1.05]), 0.6 deep."""
    rng = np.random.default_rng(seed)
    p = rng.uniform([-0.5, 0.05, -0.3], [0.5, 1.05, 0.3], (n, 3))
    axis = rng.integers(0, 3, n)
    side = rng.integers(0, 2, n)
    lo, hi = np.array([-0.5, 0.05, -0.3]), np.array([0.5, 1.05, 0.3])
    p[np.arange(n), axis] = np.where(side == 1, hi[axis], lo[axis])
    return p


def background_points(n: int = 150, seed: int = 1) -> np.ndarray:
    """Points far away all round (5x the cameras' distance), where a scene would be."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 2 * np.pi, n)
    r = rng.uniform(18, 25, n)
    return np.column_stack([r * np.sin(a), rng.uniform(-2, 6, n), r * np.cos(a)])


def ground_points(n: int = 600, radius: float = 2.0, seed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    r = radius * np.sqrt(rng.uniform(0, 1, n))
    a = rng.uniform(0, 2 * np.pi, n)
    return np.column_stack([r * np.cos(a), np.zeros(n), r * np.sin(a)])


def ring(n: int = 12, radius: float = 4.0, height: float = 1.5, arc: float = 360.0,
         facing: float = 0.0, target=(0.0, 0.5, 0.0)) -> list[View]:
    """``n`` cameras on a horizontal circle (or an ``arc`` of it, degrees, centred on the
    azimuth ``facing``; azimuth 0 is +z, 90 is +x), looking at ``target``."""
    if arc >= 360:
        az = np.radians(facing + 360.0 * np.arange(n) / n)
    else:
        az = np.radians(facing + np.linspace(-arc / 2, arc / 2, n))
    return [look_at([radius * np.sin(a), height, radius * np.cos(a)], target, name=f"c{k}")
            for k, a in enumerate(az)]


def roll(view: View) -> View:
    """The same camera held in portrait: rotated 90 degrees about its axis so that the
    photo's true up is the raw image's -x (EXIF orientation 6)."""
    x, y, z = view.R
    R = np.stack([y, -x, z])  # new x = old y (down), so -x_new = old -y = up
    return View(view.name, view.K, np.column_stack([R, -R @ view.center]), view.width,
                view.height)


def angle_deg(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    c = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(c, -1, 1))))


def tracks(n: int) -> np.ndarray:
    return np.full(n, 5)


# ----------------------------------------------------------------------------- object


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_object_centric_region_is_upright_and_leaves_the_background_out(seed):
    m = Motion(seed)
    obj, bg = object_points(), background_points()
    pts = m.points(np.vstack([obj, bg]))
    views = [m.view(v) for v in ring()]
    region = find_region(views, pts, tracks(len(pts)), seed=seed)
    assert isinstance(region, Region)
    assert region.object_centric
    assert region.ground_height is None
    R = region.rotation
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(R) == pytest.approx(1.0)
    assert angle_deg(R[1], m.direction(UP)) < 5
    # The front faces the first camera of a full orbit, horizontally.
    assert angle_deg(R[2], m.direction([0.0, 0.0, 1.0])) < 5
    inside = region.box.contains(region.to_object(pts))
    assert inside[: len(obj)].mean() > 0.9
    assert not inside[len(obj):].any()
    assert region.kept == inside.sum()
    # The box is about the object's size (1 x 1 x 0.6), not the scene's.
    assert np.all(region.box.size < [1.6, 1.6, 1.6]) and np.all(region.box.size > 0.5)


def test_a_ground_plane_is_found_and_cut_off():
    m = Motion(3)
    obj, ground = object_points(), ground_points()
    pts = m.points(np.vstack([obj, ground]))
    views = [m.view(v) for v in ring()]
    region = find_region(views, pts, tracks(len(pts)))
    assert region.object_centric
    assert region.ground_height is not None
    assert angle_deg(region.rotation[1], m.direction(UP)) < 2  # the ground's normal
    local = region.to_object(pts)
    # The ground lies at ground_height in the object frame, and the box starts above it.
    np.testing.assert_allclose(local[len(obj):, 1], region.ground_height, atol=1e-6)
    assert region.box.lower[1] > region.ground_height
    inside = region.box.contains(local)
    assert inside[: len(obj)].mean() > 0.9
    assert inside[len(obj):].mean() < 0.05


def test_keep_scene_keeps_everything():
    m = Motion(4)
    obj, bg, ground = object_points(), background_points(), ground_points()
    pts = m.points(np.vstack([obj, bg, ground]))
    views = [m.view(v) for v in ring()]
    region = find_region(views, pts, tracks(len(pts)), keep_scene=True)
    assert not region.object_centric
    assert region.ground_height is None
    inside = region.box.contains(region.to_object(pts))
    assert inside.mean() > 0.97
    assert inside[len(obj): len(obj) + len(bg)].mean() > 0.95
    assert inside[len(obj) + len(bg):].all()  # the ground too
    assert angle_deg(region.rotation[1], m.direction(UP)) < 5


def test_short_tracks_are_ignored():
    m = Motion(5)
    obj = object_points()
    rng = np.random.default_rng(0)
    junk = rng.uniform(-1.5, 1.5, (300, 3)) + [0.0, 0.5, 0.0]  # noise around the object
    pts = m.points(np.vstack([obj, junk]))
    tl = np.concatenate([tracks(len(obj)), np.full(len(junk), 2)])
    region = find_region([m.view(v) for v in ring()], pts, tl)
    inside = region.box.contains(region.to_object(pts))
    assert inside[: len(obj)].mean() > 0.9
    assert region.kept == inside[: len(obj)].sum()  # counts the points it used
    assert np.all(region.box.size < 1.6)  # the box follows the long tracks only


def test_front_faces_the_cameras_of_a_partial_orbit():
    m = Motion(6)
    obj = object_points()
    # Level cameras on the -x side only (azimuth -90 +- 70 degrees): that is the front.
    views = [m.view(v) for v in ring(n=9, arc=140.0, facing=-90.0, height=0.5)]
    region = find_region(views, m.points(obj), tracks(len(obj)))
    assert region.object_centric
    assert angle_deg(region.rotation[2], m.direction([-1.0, 0.0, 0.0])) < 5
    assert angle_deg(region.rotation[1], m.direction(UP)) < 2


def test_up_of_a_partial_orbit_of_pitched_cameras():
    m = Motion(6)
    obj = object_points()
    # The usual capture of an object against a wall: a 90-degree arc, looking down 14
    # degrees at it (no roll: the photos' horizons are level).
    views = [m.view(v) for v in ring(n=9, arc=90.0, facing=-90.0, height=1.5)]
    region = find_region(views, m.points(obj), tracks(len(obj)))
    assert angle_deg(region.rotation[1], m.direction(UP)) < 5


# ----------------------------------------------------------------------------- up


def test_portrait_photos_give_the_same_up_with_their_exif_up():
    m = Motion(7)
    obj = object_points()
    pts = m.points(obj)
    upright = [m.view(v) for v in ring()]
    rolled = [roll(v) for v in upright]
    np.testing.assert_allclose(rolled[0].center, upright[0].center, atol=1e-9)
    ups = [np.array([-1.0, 0.0, 0.0])] * len(rolled)
    a = find_region(upright, pts, tracks(len(pts)))
    b = find_region(rolled, pts, tracks(len(pts)), ups)
    assert angle_deg(b.rotation[1], m.direction(UP)) < 5
    np.testing.assert_allclose(b.rotation, a.rotation, atol=1e-6)
    np.testing.assert_allclose(b.origin, a.origin, atol=1e-9)
    # Without the EXIF up, the portrait cameras' -y is horizontal: the up is wrong.
    c = find_region(rolled, pts, tracks(len(pts)))
    assert angle_deg(c.rotation[1], m.direction(UP)) > 45


def test_mixed_portrait_and_landscape_photos():
    m = Motion(8)
    pts = m.points(object_points())
    views = [m.view(v) for v in ring()]
    views = [roll(v) if k % 3 == 0 else v for k, v in enumerate(views)]
    ups = [np.array([-1.0, 0.0, 0.0]) if k % 3 == 0 else np.array([0.0, -1.0, 0.0])
           for k in range(len(views))]
    region = find_region(views, pts, tracks(len(pts)), ups)
    assert angle_deg(region.rotation[1], m.direction(UP)) < 5


# ----------------------------------------------------------------------------- facade


def facade_scene(half_width: float = 6.0, seed: int = 0):
    """A wall of points (x in [-8, 8], y in [0, 6], z ~ 0, some relief) and cameras on a
    line 4 in front of it (z = 4, x in [-half_width, half_width]), all looking along -z."""
    rng = np.random.default_rng(seed)
    wall = np.column_stack([rng.uniform(-8, 8, 800), rng.uniform(0, 6, 800),
                            rng.uniform(-0.3, 0.3, 800)])
    views = [look_at([x, 2.0, 4.0], [x, 2.0, 0.0], name=f"f{k}")
             for k, x in enumerate(np.linspace(-half_width, half_width, 13))]
    return wall, views


def test_facade_is_not_object_centric_and_faces_the_cameras():
    wall, views = facade_scene()
    m = Motion(9, translation=[0.5, -0.3, 0.2])
    pts = m.points(wall)
    views = [m.view(v) for v in views]
    region = find_region(views, pts, tracks(len(pts)))
    assert not region.object_centric
    assert angle_deg(region.rotation[1], m.direction(UP)) < 2
    # Front: from the bulk of the points towards the mean camera, made horizontal; the
    # wall's centre is off the cameras' by its points' median, so within a few degrees
    # of the wall's normal.
    to_cams = np.mean([v.center for v in views], axis=0) - region.origin
    to_cams -= (to_cams @ region.rotation[1]) * region.rotation[1]
    assert angle_deg(region.rotation[2], to_cams) < 1e-6
    assert angle_deg(region.rotation[2], m.direction([0.0, 0.0, 1.0])) < 10
    assert region.box.contains(region.to_object(pts)).mean() > 0.9


def test_facade_result_does_not_depend_on_the_world_origin():
    wall, views = facade_scene(half_width=4.0)
    results = []
    for behind in (0.0, 6.0):  # the SfM origin on the wall, or 6 units behind it
        m = Motion(9, translation=Motion(9).Q @ np.array([0.0, -2.0, behind]))
        pts = m.points(wall)
        results.append(find_region([m.view(v) for v in views], pts, tracks(len(pts))))
    a, b = results
    assert not a.object_centric and a.kept > 750  # the whole wall
    assert not b.object_centric  # got: True, the wall cut to its middle
    assert b.kept == a.kept
    np.testing.assert_allclose(b.box.size, a.box.size, rtol=1e-6)


# ----------------------------------------------------------------------------- helpers


def test_convergence_point():
    m = Motion(10)
    target = np.array([0.3, 0.5, -0.2])
    views = [m.view(v) for v in ring(n=5, target=target)]
    np.testing.assert_allclose(convergence_point(views)[0], m.points(target[None])[0],
                               atol=1e-9)
    # Two skew axes: the midpoint of their common perpendicular.
    a = look_at([-3.0, 0.0, 0.0], [0.0, 0.0, 0.0])   # along +x through y = 0
    b = look_at([0.0, 1.0, -3.0], [0.0, 1.0, 0.0])   # along +z through y = 1
    np.testing.assert_allclose(convergence_point([a, b])[0], [0.0, 0.5, 0.0], atol=1e-9)


def test_view_in_object_frame_projects_the_same_pixels():
    m = Motion(11)
    obj = object_points()
    pts = m.points(obj)
    views = [m.view(v) for v in ring()]
    region = find_region(views, pts, tracks(len(pts)))
    local = region.to_object(pts)
    for v in views[:4]:
        w = region.view_in_object_frame(v)
        assert w.name == v.name and (w.width, w.height) == (v.width, v.height)
        np.testing.assert_array_equal(w.K, v.K)
        uv, z = v.project(pts)
        uv2, z2 = w.project(local)
        np.testing.assert_allclose(uv2, uv, atol=1e-7)
        np.testing.assert_allclose(z2, z, atol=1e-9)
        np.testing.assert_allclose(w.center, region.to_object(v.center[None])[0], atol=1e-9)
    # to_object is rigid: distances keep their SfM units.
    d = np.linalg.norm(pts[1:] - pts[:-1], axis=1)
    np.testing.assert_allclose(np.linalg.norm(local[1:] - local[:-1], axis=1), d)
