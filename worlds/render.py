"""Rendering one world of a batch to an RGB array, a window, or a replay file.

A ``Canvas`` maps world-local coordinates to pixels with a camera that fits the world's bounds
(y points up). ``draw_world`` paints static geometry and every body group; scenarios add their own
marks (landmarks, links, targets) through the same canvas. Rendering is for people, not for the
step loop, so it may loop over shapes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from worlds.world import WorldBatch

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
    """A canvas with world ``env_index``'s static geometry and bodies drawn on it."""
    xmin, xmax, ymin, ymax = world.local_bounds()
    canvas = Canvas((xmin, xmax, ymin, ymax), size=size)
    for vertices in world.geometry.polygons:
        canvas.polygon(vertices, fill=(90, 90, 90))
    for a, b, radius in world.geometry.segments:
        canvas.line(*a, *b, (90, 90, 90), width=max(1, int(2 * radius * canvas.scale)))
    for i, group in enumerate(world.groups.values()):
        color = GROUP_COLORS[i % len(GROUP_COLORS)]
        x, y, angle = group.x[env_index], group.y[env_index], group.angle[env_index]
        for j in range(group.n):
            canvas.circle(float(x[j]), float(y[j]), group.radius, fill=color)
            tip_x = x[j] + group.radius * np.cos(angle[j])
            tip_y = y[j] + group.radius * np.sin(angle[j])
            canvas.line(float(x[j]), float(y[j]), float(tip_x), float(tip_y), (255, 255, 255))
    return canvas


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
