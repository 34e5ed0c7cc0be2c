"""Painting the body into the volume: torso cross-sections (fat, muscle, spine, ribs,
great vessels) and the abdomen (thorax base, heart, bowel, stomach, kidneys, spleen,
gallbladder), with the tissue HU of the case (``Anatomy.hu``)."""

from __future__ import annotations

import math

import numpy as np

from livseg.phantom.anatomy import Anatomy, body_scale, cavity_axes, diaphragm_z
from livseg.phantom.appearance import AIR_HU
from livseg.phantom.geometry import Grid, ellipsoid_q, paint_ellipsoid, paint_tube


def _torso_slice(an: Anatomy, X, Y, scale: float):
    """HU image and cavity mask of one axial body cross-section (2D, before z features)."""
    hw, hd, hp = (
        an.half_width * scale,
        an.half_depth * scale,
        an.half_depth * an.post_factor * scale,
    )
    img = np.full(np.broadcast_shapes(X.shape, Y.shape), AIR_HU, np.float32)

    def ell(a, b_ant, b_post, x0=0.0, y0=0.0):
        yy = Y - y0
        b = np.where(yy >= 0, b_ant, b_post)
        return ((X - x0) / a) ** 2 + (yy / b) ** 2 <= 1.0

    body = ell(hw, hd, hp)
    img[body] = an.hu["fat"]
    f = an.fat
    inner_m = ell(hw - f, hd - f, hp - 0.5 * f)
    img[inner_m] = an.hu["muscle"]
    inner = an.fat + an.wall
    cavity = ell(hw - inner, hd - inner, hp - inner)
    img[cavity] = an.hu["fat"] + 8.0
    vy, vr = an.vert_y, an.vert_r
    # paraspinal muscles, posterior elements, spinal canal
    for sx in (-1, 1):
        m = ell(30.0, 24.0, 24.0, sx * 30.0, vy - 48.0)
        img[m & body] = an.hu["muscle"] - 5
        cavity &= ~m
    post = ell(9.0, 22.0, 22.0, 0.0, vy - 40.0) | ell(26.0, 6.0, 6.0, 0.0, vy - 30.0)
    img[post] = an.hu["bone_cortex"] * 0.8
    canal = ell(8.0, 8.0, 8.0, 0.0, vy - vr - 8.0)
    img[canal] = 15.0
    vb = ell(vr, vr * 0.9, vr * 0.9, 0.0, vy)
    img[vb] = an.hu["bone_cortex"]
    img[ell(vr - 2.5, vr * 0.9 - 2.5, vr * 0.9 - 2.5, 0.0, vy)] = an.hu["bone_cancellous"]
    cavity &= ~(vb | post | canal | (Y < vy - vr))
    ax_, ay_, ar = an.aorta
    ao = ell(ar, ar, ar, ax_, ay_)
    img[ao] = an.hu["blood"]
    ix, iy, irx, iry = an.ivc
    iv = ell(irx, iry, iry, ix, iy)
    img[iv] = an.hu["ivc"]
    cavity &= ~(ao | iv)
    return img, cavity


def paint_torso(an: Anatomy, grid: Grid, vol: np.ndarray, cav: np.ndarray, rng) -> None:
    X = grid.xs.astype(np.float32)[:, None]
    Y = grid.ys.astype(np.float32)[None, :]
    scales = np.round(body_scale(an, grid.zs) / 0.01) * 0.01
    # runs of slices with the same body scale share one 2D template (contiguous z writes)
    k0 = 0
    while k0 < len(scales):
        k1 = k0 + 1
        while k1 < len(scales) and scales[k1] == scales[k0]:
            k1 += 1
        img, cavity = _torso_slice(an, X, Y, float(scales[k0]))
        vol[:, :, k0:k1] = img[:, :, None]
        cav[:, :, k0:k1] = cavity[:, :, None]
        k0 = k1
    # z-dependent features: discs, ribs, psoas
    vy, vr = an.vert_y, an.vert_r
    ac, bc, bp = cavity_axes(an)
    rib_rng_seed = int(rng.integers(0, 2**31))
    for k, z in enumerate(grid.zs):
        sl = vol[:, :, k]
        cs = cav[:, :, k]
        if (z + 400.0) % 32.0 < 7.0:  # intervertebral disc
            box = grid.box((-vr - 1, vy - vr, z), (vr + 1, vy + vr, z))
            if box is not None:
                b2 = box[:2]
                xx, yy = X[b2[0]], Y[:, b2[1]]
                m = (xx / vr) ** 2 + ((yy - vy) / (vr * 0.9)) ** 2 <= 1
                sl[b2][m] = 90.0
        if z < -130.0:  # psoas, growing caudally
            pr = min(25.0, 8.0 + (-130.0 - z) * 0.15)
            for sx in (-1, 1):
                cx, cy = sx * (vr + pr * 0.8), vy + 3
                box = grid.box((cx - pr, cy - pr, z), (cx + pr, cy + pr, z))
                if box is None:
                    continue
                b2 = box[:2]
                m = ((X[b2[0]] - cx) / pr) ** 2 + ((Y[:, b2[1]] - cy) / (pr * 0.9)) ** 2 <= 1
                sl[b2][m] = an.hu["muscle"]
                cs[b2][m] = False
        if z > -190.0:  # ribs: oval cross-sections inside the wall, changing every 14 mm
            band = int(math.floor((z + 400.0) / 14.0))
            brng = np.random.default_rng([rib_rng_seed, band])
            if band % 2 == 0:
                continue
            s = float(body_scale(an, np.array([z]))[0])
            depth = an.fat + 0.5 * an.wall
            for side in (-1, 1):
                for theta in np.deg2rad(brng.uniform(15, 165, 5)):
                    th = theta if side > 0 else np.pi - theta
                    if abs(np.degrees(th) - 90) < 18:
                        continue
                    ca, sa = math.cos(th), math.sin(th)
                    rad_y = (
                        an.half_depth if sa >= 0 else an.half_depth * an.post_factor
                    ) * s - depth
                    cx, cy = (an.half_width * s - depth) * ca, rad_y * sa
                    box = grid.box((cx - 9, cy - 9, z), (cx + 9, cy + 9, z))
                    if box is None:
                        continue
                    b2 = box[:2]
                    xx, yy = X[b2[0]] - cx, Y[:, b2[1]] - cy
                    # tangent direction (-sa, ca): long axis 8 mm, short 4.5 mm
                    ut = xx * -sa + yy * ca
                    un = xx * ca + yy * sa
                    q = (ut / 8.0) ** 2 + (un / 4.5) ** 2
                    sub = sl[b2]
                    sub[q <= 1] = an.hu["bone_cortex"] * 0.75
                    sub[q <= 0.45] = an.hu["bone_cancellous"] + 40
                    cs[b2][q <= 1] = False
    del ac, bc, bp


def paint_abdomen(an: Anatomy, grid: Grid, vol, cav, organs: dict, rng) -> dict:
    """Thorax base, bowel, stomach, kidneys, spleen, gallbladder; returns landmarks (mm)."""
    X = grid.xs.astype(np.float32)[:, None, None]
    Y = grid.ys.astype(np.float32)[None, :, None]
    Z = grid.zs.astype(np.float32)[None, None, :]
    zd = diaphragm_z(an, X, Y).astype(np.float32)  # (nx, ny, 1)
    ktop = np.nonzero(grid.zs > float(zd.min()))[0]
    below = np.ones(grid.shape, bool)
    if ktop.size:
        k0 = int(ktop[0])
        zz = Z[:, :, k0:]
        thor = cav[:, :, k0:]
        abovez = zz > zd
        below[:, :, k0:] = ~abovez
        lung = thor & (zz > zd + 5.0)
        dia = thor & abovez & ~lung
        vsub = vol[:, :, k0:]
        vsub[lung] = an.hu["lung"]
        vsub[dia] = an.hu["muscle"]
        c, r, rot = organs["heart"]
        heart_c = (
            c[0],
            c[1],
            float(
                zd[
                    np.searchsorted(grid.xs, c[0]).clip(0, grid.shape[0] - 1),
                    np.searchsorted(grid.ys, c[1]).clip(0, grid.shape[1] - 1),
                    0,
                ]
            )
            + r[2] * 0.75,
        )
        organs["heart"] = (heart_c, r, rot)
        hb = paint_ellipsoid(
            vol,
            cav & ~below,
            grid,
            organs["heart"],
            an.hu["blood"],
            shell=10.0,
            shell_hu=an.hu["myocardium"],
        )
        del hb
    # colon: ascending (right), transverse (anterior), descending (left), air + stool
    ac, bc, bp = cavity_axes(an)
    ok = cav & below
    zmin = float(grid.zs[0]) - 20
    colon = [
        ((-0.72 * ac, -0.1 * bc, zmin), (-0.7 * ac, 0.0, -175.0)),
        ((-0.7 * ac, 0.0, -175.0), (-0.35 * ac, 0.55 * bc, -170.0)),
        ((-0.35 * ac, 0.55 * bc, -170.0), (0.35 * ac, 0.55 * bc, -160.0)),
        ((0.35 * ac, 0.55 * bc, -160.0), (0.72 * ac, 0.1 * bc, -120.0)),
        ((0.72 * ac, 0.1 * bc, -120.0), (0.75 * ac, -0.1 * bc, zmin)),
    ]
    jitter = rng.uniform(-12, 12, (len(colon), 2, 3))
    cr = rng.uniform(18.0, 24.0)
    for (p0, p1), jj in zip(colon, jitter, strict=True):
        p0 = np.array(p0) + jj[0]
        p1 = np.array(p1) + jj[1]
        paint_tube(vol, ok, grid, p0, p1, cr, cr, an.hu["bowel_wall"])
        paint_tube(
            vol, ok, grid, p0, p1, cr - 3.0, cr - 3.0, AIR_HU if rng.uniform() < 0.6 else -40.0
        )
    # small bowel loops: random walk in the lower anterior abdomen
    p = np.array([rng.uniform(-0.3, 0.3) * ac, 0.2 * bc, -200.0])
    for _ in range(10):
        step = rng.normal(size=3) * np.array([40.0, 25.0, 20.0])
        q = p + step
        q[0] = np.clip(q[0], -0.55 * ac, 0.55 * ac)
        q[1] = np.clip(q[1], -0.1 * bc, 0.6 * bc)
        q[2] = np.clip(q[2], -290.0, -175.0)
        rb = rng.uniform(10.0, 15.0)
        paint_tube(vol, ok, grid, p, q, rb, rb, an.hu["bowel_wall"])
        paint_tube(
            vol,
            ok,
            grid,
            p,
            q,
            rb - 2.5,
            rb - 2.5,
            an.hu["fluid"] if rng.uniform() < 0.75 else AIR_HU,
        )
        p = q
    # stomach with an air-fluid level (air anterior, supine patient)
    res = paint_ellipsoid(
        vol,
        ok,
        grid,
        organs["stomach"],
        an.hu["fluid"] + 10,
        shell=5.0,
        shell_hu=an.hu["bowel_wall"],
    )
    if res is not None:
        box, m = res
        c, r, rot = organs["stomach"]
        inner = ellipsoid_q(*grid.coords(box), c, [ri - 5 for ri in r], rot) <= 1.0
        air = m & inner & (grid.coords(box)[1] > c[1] + rng.uniform(-5, 15))
        vol[box][air] = AIR_HU
    # kidneys: enhancing cortex, medulla, sinus fat
    for name in ("kidney_r", "kidney_l"):
        res = paint_ellipsoid(
            vol,
            ok,
            grid,
            organs[name],
            an.hu["kidney_medulla"],
            shell=7.0,
            shell_hu=an.hu["kidney_cortex"],
        )
        if res is not None:
            c, r, rot = organs[name]
            sinus = (c[0] - np.sign(c[0]) * 14.0, c[1] + 6.0, c[2])
            paint_ellipsoid(vol, ok, grid, (sinus, (10.0, 12.0, 25.0), rot), an.hu["fat"] + 20)
    res = paint_ellipsoid(vol, ok, grid, organs["spleen"], an.hu["spleen"])
    zebra = float(an.hu.get("spleen_zebra", 0.0))
    if res is not None and zebra > 0:  # arterial phase: banded (zebra) spleen
        box, m = res
        x, y, z = grid.coords(box)
        k = np.asarray(organs["spleen"][2])[0] * (2 * np.pi / 22.0)
        bands = np.cos(k[0] * x + k[1] * y + k[2] * z + float(rng.uniform(0, 2 * np.pi)))
        sub = vol[box]
        sub[m] += (zebra * np.broadcast_to(bands, m.shape)[m]).astype(np.float32)
    if "gallbladder" in organs:
        paint_ellipsoid(vol, ok, grid, organs["gallbladder"], an.hu["bile"])
    sc, sr, _ = organs["spleen"]
    landmarks = {
        "spleen": [float(v) for v in sc],
        "aorta": [an.aorta[0], an.aorta[1], float(np.median(grid.zs))],
        "subcutaneous_fat": [
            0.0,
            float(
                an.half_depth * body_scale(an, np.array([float(np.median(grid.zs))]))[0]
                - an.fat / 2
            ),
            float(np.median(grid.zs)),
        ],
        "air": [float(grid.xs[6]), float(grid.ys[6]), float(np.median(grid.zs))],
    }
    return landmarks, below
