"""Chipmunk's own setters called from compiled loops: placing a few bodies and forgetting their
contacts at a reset, without a Python call per body.

pymunk reaches chipmunk through cffi, about a microsecond a call from Python; a reset of one
world of 18 drones made some 150 of them (position, velocity, angle and spin of each body,
then taking its shape out of the space and back). Here a kernel calls the very same C
functions at their addresses (``ccall``), some 20 ns a call, in the same order, so the
bodies end exactly as the Python calls leave them.

The addresses are read from pymunk's cffi module at run time and passed to the kernels as
integers, so the kernels stay in numba's on-disk cache. Arguments go as 64-bit words
(pointers, ids) and doubles; a ``cpVect`` passed by value (two doubles) goes as two doubles,
which is how the x86-64 System V and AArch64 calling conventions pass it. Elsewhere (Windows
passes it by reference) ``available()`` is False and callers keep their Python calls; a
probe checks the convention once per process before anything relies on it.
"""

from __future__ import annotations

import functools
import platform
import sys

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from worlds.kernels import kernel

# Indices into the address table (``addresses``).
SET_POSITION, SET_VELOCITY, SET_ANGLE, SET_SPIN = 0, 1, 2, 3
REMOVE_SHAPE, ADD_SHAPE, SET_SHAPE_COUNTER, UPDATE_POSITION = 4, 5, 6, 7
GET_SHAPE_COUNTER, EACH_CACHED_ARBITER, ARBITER_ROWS = 8, 9, 10
_NAMES = (
    "cpBodySetPosition",
    "cpBodySetVelocity",
    "cpBodySetAngle",
    "cpBodySetAngularVelocity",
    "cpSpaceRemoveShape",
    "cpSpaceAddShape",
    "cpSpaceSetShapeIDCounter",
    "cpBodyUpdatePosition",
    "cpSpaceGetShapeIDCounter",
    "cpSpaceEachCachedArbiter",
    "pmSpaceArbiterIteratorFuncBatched",  # pymunk.batch's iterator: appends an arbiter's fields
)


@intrinsic
def ccall(typingctx, address, arguments):
    """Call the C function at the integer ``address`` with the tuple ``arguments``: integers
    go as 64-bit words, floats as doubles; whatever it returns is dropped."""
    kinds = _argument_kinds(arguments)
    if kinds is None:
        return None

    def codegen(context, builder, signature, args):
        _call(context, builder, signature, args, kinds, ir.VoidType())
        return context.get_dummy_value()

    return types.void(address, arguments), codegen


def _argument_kinds(arguments) -> list | None:
    """How ``ccall`` passes each argument: int64 for integers, float64 for floats."""
    kinds = []
    for argument in arguments.types:
        if isinstance(argument, types.Integer):
            kinds.append(types.int64)
        elif isinstance(argument, types.Float):
            kinds.append(types.float64)
        else:
            return None
    return kinds


def _call(context, builder, signature, args, kinds, returns):
    """Cast the arguments and call the function at the address ``args[0]``."""
    target, values = args
    params = [ir.IntType(64) if k is types.int64 else ir.DoubleType() for k in kinds]
    function = ir.FunctionType(returns, params)
    given = signature.args[1].types
    cast = [
        context.cast(builder, builder.extract_value(values, i), given[i], kind)
        for i, kind in enumerate(kinds)
    ]
    pointer = context.cast(builder, target, signature.args[0], types.int64)
    return builder.call(builder.inttoptr(pointer, function.as_pointer()), cast)


@intrinsic
def ccall_word(typingctx, address, arguments):
    """``ccall`` of a C function that returns a 64-bit word (a pointer, an id), as int64."""
    kinds = _argument_kinds(arguments)
    if kinds is None:
        return None

    def codegen(context, builder, signature, args):
        return _call(context, builder, signature, args, kinds, ir.IntType(64))

    return types.int64(address, arguments), codegen


@intrinsic
def peek(typingctx, address, width):
    """The signed integer of ``width`` bytes (4 or 8, a literal) at ``address``, as int64."""
    if not isinstance(width, types.IntegerLiteral) or width.literal_value not in (4, 8):
        return None
    bits = 8 * width.literal_value

    def codegen(context, builder, signature, args):
        where = context.cast(builder, args[0], signature.args[0], types.int64)
        value = builder.load(builder.inttoptr(where, ir.IntType(bits).as_pointer()))
        return value if bits == 64 else builder.sext(value, ir.IntType(64))

    return types.int64(address, width), codegen


@intrinsic
def poke32(typingctx, address, value):
    """Store ``value`` (an integer) as a 32-bit integer at ``address``."""

    def codegen(context, builder, signature, args):
        where = context.cast(builder, args[0], signature.args[0], types.int64)
        number = context.cast(builder, args[1], signature.args[1], types.int64)
        pointer = builder.inttoptr(where, ir.IntType(32).as_pointer())
        builder.store(builder.trunc(number, ir.IntType(32)), pointer)
        return context.get_dummy_value()

    return types.void(address, value), codegen


@kernel
def write_bodies(functions, bodies, rows, x, y, vx, vy, angle, with_angle):
    """Body ``bodies[rows[k]]`` (chipmunk pointers as int64) at ``(x[k], y[k])`` in the space's
    coordinates with velocity ``(vx[k], vy[k])``, heading ``angle[k]`` when ``with_angle``, and
    no spin: the calls ``placement.write_rows`` makes one by one, in its order."""
    for k in range(rows.shape[0]):
        body = bodies[rows[k]]
        ccall(functions[SET_POSITION], (body, x[k], y[k]))
        if with_angle:
            ccall(functions[SET_ANGLE], (body, angle[k]))
        ccall(functions[SET_VELOCITY], (body, vx[k], vy[k]))
        ccall(functions[SET_SPIN], (body, 0.0))


@kernel
def forget_shapes(functions, space, shapes, bodies, shape_ids, rows, touching, counter):
    """``contacts.forget``'s loop: for every row of ``rows`` still ``touching`` (then no longer),
    take its shape out of ``space`` and put it back under its old id, and integrate its body
    over a zero time step; then the space's id counter is ``counter`` again."""
    for k in range(rows.shape[0]):
        forget_row(functions, space, shapes, bodies, shape_ids, rows[k], touching)
    ccall(functions[SET_SHAPE_COUNTER], (space, counter))


@kernel(inline="always")
def forget_row(functions, space, shapes, bodies, shape_ids, row, touching):
    """Where row ``row`` is still ``touching`` (then no longer): its shape out of ``space`` and
    back under its old id, its body integrated over a zero time step."""
    if touching[row]:
        touching[row] = False
        ccall(functions[REMOVE_SHAPE], (space, shapes[row]))
        ccall(functions[SET_SHAPE_COUNTER], (space, shape_ids[row]))
        ccall(functions[ADD_SHAPE], (space, shapes[row]))
        ccall(functions[UPDATE_POSITION], (bodies[row], 0.0))


def address(pointer) -> int:
    """A cffi pointer as an integer."""
    from pymunk._chipmunk_cffi import ffi

    return int(ffi.cast("intptr_t", pointer))


@functools.lru_cache(maxsize=1)
def addresses() -> np.ndarray:
    """The chipmunk functions of the kernels above, as int64 addresses, in index order."""
    from pymunk._chipmunk_cffi import ffi, lib

    return np.array([address(ffi.addressof(lib, name)) for name in _NAMES], np.int64)


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """Whether the kernels may call chipmunk here: a calling convention that passes ``cpVect``
    as two doubles, and a probe body placed through them reads back what was written."""
    machine = platform.machine().lower()
    if sys.platform == "win32" or machine not in ("x86_64", "amd64", "aarch64", "arm64"):
        return False
    try:
        import pymunk

        body = pymunk.Body(1.0, 1.0)
        body.angular_velocity = 3.0
        pointers = np.array([address(body._body)], np.int64)
        one = np.ones(1)
        rows = np.zeros(1, np.intp)
        write_bodies(addresses(), pointers, rows, one * 1.5, one * -2.25, one * 0.5, one * 4.0,
                     one * 0.75, True)  # fmt: skip
        return (
            tuple(body.position) == (1.5, -2.25)
            and tuple(body.velocity) == (0.5, 4.0)
            and body.angle == 0.75
            and body.angular_velocity == 0.0
        )
    except Exception:  # pragma: no cover - a pymunk without these symbols
        return False
