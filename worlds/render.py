"""Rendering one world of a batch to an RGB array, a window, or a replay file.

A ``Canvas`` maps world-local coordinates to pixels with a camera that fits the world's bounds
(y points up). ``draw_world`` paints static geometry and every body group (circles, and boxes and
polygons turned by their angle; a white mark shows the heading of bodies whose dynamics has one,
none otherwise); scenarios add their own marks (landmarks, links, targets) through the same
canvas. Rendering is for people, not for the step loop, so it may loop over shapes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from worlds.world import BodyGroup, WorldBatch

Color = tuple[int, int, int]
GROUP_COLORS: Sequence[Color] = ((52, 101, 164), (204, 0, 0), (78, 154, 6), (117, 80, 123))


class Canvas:
    """An RGB image with a camera over the rectangle ``bounds = (xmin, xmax, ymin, ymax)``."""

    def __init__(
        self,
        bounds: tuple[float, float, float, float],
        size: int = 480,
        background: Color = (250, 250, 246),
        margin: float = 0.04,
    ) -> None:
        xmin, xmax, ymin, ymax = bounds
        pad = margin * max(xmax - xmin, ymax - ymin)
        self.xmin, self.ymax = xmin - pad, ymax + pad
        span = max(xmax - xmin, ymax - ymin) + 2 * pad
        self.scale = size / span
        width = int(round((xmax - xmin + 2 * pad) * self.scale))
        height = int(round((ymax - ymin + 2 * pad) * self.scale))
        # Even sizes keep video encoders happy.
        self.image = Image.new("RGB", (width + width % 2, height + height % 2), background)
        self.draw = ImageDraw.Draw(self.image)

    def to_pixels(self, x: float, y: float) -> tuple[float, float]:
        return ((x - self.xmin) * self.scale, (self.ymax - y) * self.scale)

    def circle(self, x: float, y: float, radius: float, fill: Color | None, outline=None, width=1):
        px, py = self.to_pixels(x, y)
        r = max(radius * self.scale, 1.0)
        self.draw.ellipse((px - r, py - r, px + r, py + r), fill=fill, outline=outline, width=width)

    def line(self, x0: float, y0: float, x1: float, y1: float, color: Color, width: int = 1):
        self.draw.line((*self.to_pixels(x0, y0), *self.to_pixels(x1, y1)), fill=color, width=width)

    def polygon(self, points: Sequence[tuple[float, float]], fill: Color, outline=None):
        self.draw.polygon([self.to_pixels(x, y) for x, y in points], fill=fill, outline=outline)

    def text(self, x: float, y: float, text: str, color: Color = (40, 40, 40)):
        self.draw.text(self.to_pixels(x, y), text, fill=color)

    def array(self) -> np.ndarray:
        return np.asarray(self.image, dtype=np.uint8).copy()


def draw_world(world: WorldBatch, env_index: int = 0, size: int = 480) -> Canvas:
    """A canvas with world ``env_index``'s static geometry and bodies drawn on it.

    Circles are discs; boxes and polygons are turned by the body's angle. Where a group's
    dynamics has a heading (``dynamics.needs_angle``), a white mark shows where each body faces:
    a tick from the body's centre to its front (a circle's rim). Groups without a
    heading get no mark (their angle carries no meaning).
    """
    xmin, xmax, ymin, ymax = world.local_bounds()
    canvas = Canvas((xmin, xmax, ymin, ymax), size=size)
    for vertices in world.geometry.polygons:
        canvas.polygon(vertices, fill=(90, 90, 90))
    for a, b, radius in world.geometry.segments:
        canvas.line(*a, *b, (90, 90, 90), width=max(1, int(2 * radius * canvas.scale)))
    for i, group in enumerate(world.groups.values()):
        _draw_group(canvas, group, env_index, GROUP_COLORS[i % len(GROUP_COLORS)])
    return canvas


_MARK: Color = (255, 255, 255)


def _draw_group(canvas: Canvas, group: BodyGroup, env_index: int, color: Color) -> None:
    """Draw one group's bodies of world ``env_index``, with heading marks where it has one."""
    x = group.x[env_index].tolist()
    y = group.y[env_index].tolist()
    angle = group.angle[env_index].tolist()
    heading = group.dynamics.needs_angle
    outline = group.shape.outline()
    front = _front_distance(outline) if outline else group.radius
    mark_width = max(2, round(0.1 * group.radius * canvas.scale))
    for j in range(group.n):
        cos, sin = math.cos(angle[j]), math.sin(angle[j])
        if outline:
            turned = [
                (x[j] + cos * px - sin * py, y[j] + sin * px + cos * py) for px, py in outline
            ]
            canvas.polygon(turned, fill=color)
        else:
            canvas.circle(x[j], y[j], group.radius, fill=color)
        if heading:
            # A tick from the centre to the front, along the heading (local +x).
            tip = (x[j] + front * cos, y[j] + front * sin)
            canvas.line(x[j], y[j], *tip, _MARK, width=1 if not outline else mark_width)


def _front_distance(outline: list[tuple[float, float]]) -> float:
    """How far the local +x axis runs from the body's origin to the polygon's edge (the
    farthest x of a vertex if the axis meets no edge: an origin outside the polygon)."""
    crossings = []
    for (ax, ay), (bx, by) in zip(outline, outline[1:] + outline[:1], strict=True):
        if (ay <= 0 <= by or by <= 0 <= ay) and ay != by:
            crossings.append(ax + (bx - ax) * (0 - ay) / (by - ay))
    ahead = [value for value in crossings if value > 0]
    return max(ahead) if ahead else max(px for px, _ in outline)


def save_replay(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: int = 15) -> Path:
    """Write RGB frames to ``.mp4`` (ffmpeg) or ``.gif``, chosen by the file's suffix."""
    import imageio.v2 as imageio

    path = Path(path)
    if not frames:
        raise ValueError("save_replay: no frames to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        imageio.mimsave(path, list(frames), duration=1000 / fps, loop=0)
    elif suffix == ".mp4":
        with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=2) as writer:
            for frame in frames:
                writer.append_data(frame)
    else:
        raise ValueError(f"replay file must end in .mp4 or .gif, got {path.name!r}")
    return path


class Window:
    """A window that shows frames, where a display and pygame exist."""

    def __init__(self, title: str = "marl-worlds") -> None:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise RuntimeError("render_mode='human' needs a display; use 'rgb_array' instead")
        try:
            import pygame
        except ImportError as error:
            raise RuntimeError("render_mode='human' needs pygame (pip install pygame)") from error
        self._pygame = pygame
        pygame.init()
        pygame.display.set_caption(title)
        self._screen = None

    def show(self, frame: np.ndarray) -> None:
        pygame = self._pygame
        if self._screen is None:
            self._screen = pygame.display.set_mode((frame.shape[1], frame.shape[0]))
        pygame.surfarray.blit_array(self._screen, frame.swapaxes(0, 1))
        pygame.display.flip()
        pygame.event.pump()

    def close(self) -> None:
        self._pygame.display.quit()
