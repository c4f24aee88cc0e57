"""Bodies are drawn as their shapes, turned by their angle, with a heading mark only where their
dynamics has a heading."""

import math

import numpy as np

from worlds import DifferentialDrive, HolonomicPointMass, WorldBatch
from worlds.render import GROUP_COLORS, draw_world
from worlds.shapes import Box, Polygon

WHITE = np.array([255, 255, 255])


def one_group(shape_keywords, dynamics, x=0.0, y=0.0, angle=0.0):
    world = WorldBatch(1, 8, 8)
    world.add_group("body", 1, dynamics=dynamics, **shape_keywords)
    world.reset_bodies("body", [0], np.full((1, 1), x), np.full((1, 1), y), angle=angle)
    canvas = draw_world(world, size=400)
    return canvas, canvas.array()


def extent(mask):
    rows, columns = np.nonzero(mask)
    return rows.max() - rows.min() + 1, columns.max() - columns.min() + 1


def painted(image, color):
    return np.all(image == np.array(color), axis=-1)


def test_a_circle_without_heading_has_no_white_mark():
    _, image = one_group({"radius": 1.0}, HolonomicPointMass(1, 1), angle=1.0)
    assert painted(image, GROUP_COLORS[0]).sum() > 1000
    assert not painted(image, WHITE).any()


def test_a_circle_with_heading_points_its_mark_along_the_angle():
    canvas, image = one_group({"radius": 1.0}, DifferentialDrive(1, 1), angle=math.pi / 2)
    rows, columns = np.nonzero(painted(image, WHITE))
    centre_column, centre_row = canvas.to_pixels(0.0, 0.0)
    assert rows.size > 10
    assert rows.max() <= centre_row + 1  # the tick goes up (north), none of it below the centre
    assert rows.min() < centre_row - 0.8 * canvas.scale
    assert np.abs(columns - centre_column).max() <= 1


def test_a_box_is_turned_by_its_angle_and_marked_at_its_front():
    long_side = Box(3.0, 1.0)
    _, east = one_group({"shape": long_side}, DifferentialDrive(1, 1), angle=0.0)
    canvas, north = one_group({"shape": long_side}, DifferentialDrive(1, 1), angle=math.pi / 2)
    east_height, east_width = extent(painted(east, GROUP_COLORS[0]) | painted(east, WHITE))
    north_height, north_width = extent(painted(north, GROUP_COLORS[0]) | painted(north, WHITE))
    assert east_width > 2.5 * east_height
    assert north_height > 2.5 * north_width
    # The mark runs from the centre to the front: in the upper half of the northward box.
    rows, _ = np.nonzero(painted(north, WHITE))
    _, centre_row = canvas.to_pixels(0.0, 0.0)
    assert rows.size > 0 and rows.max() <= centre_row + 2
    assert rows.min() < centre_row - 1.2 * canvas.scale


def test_a_polygon_without_heading_is_drawn_without_mark():
    triangle = Polygon([(1.5, 0.0), (-1.0, 1.0), (-1.0, -1.0)])
    canvas, image = one_group({"shape": triangle}, HolonomicPointMass(1, 1), angle=math.pi)
    mask = painted(image, GROUP_COLORS[0])
    assert not painted(image, WHITE).any()
    # Turned by pi: the tip points west, so the narrow end is on the left.
    rows, columns = np.nonzero(mask)
    left_column, _ = canvas.to_pixels(-1.4, 0.0)
    right_column, _ = canvas.to_pixels(0.9, 0.0)
    near_left = np.sum(columns < left_column)
    near_right = np.sum(columns > right_column)
    assert 0 < near_left < near_right
