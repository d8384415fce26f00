"""Temporal activities: the only place where workflows touch the database or
the network. Each domain's activities are methods of one class built with
its dependencies; `defined_activities` lists them for the worker."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from temporalio import activity


def defined_activities(instance: object) -> list[Callable[..., Any]]:
    """Every @activity.defn method of `instance`, bound to it.

    Found through the SDK's own definition lookup, so a new activity cannot
    be left out of the worker by a forgotten list entry."""
    return [
        getattr(instance, name)
        for name, function in inspect.getmembers(type(instance), inspect.isfunction)
        if activity._Definition.from_callable(function) is not None
    ]
