"""A small thread-safe memo: at most `size` entries, the least recently used dropped first.

For values that are pure functions of their key (a verdict on content named by its CID),
so an entry is never stale, only perhaps dropped.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedMemo(Generic[K, V]):
    def __init__(self, size: int = 256) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size, self._lock = size, threading.Lock()
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
