"""Fragmentation: free cards that the queued jobs' shapes cannot use.

Definition (per pool, at one instant). Let the queue's *shapes* be the gang sizes of the
queued jobs that may use the pool. A free server (wholly free, or partly used by small
jobs) is *usable* when some placement that the pool's rules allow for some queued shape
k, placeable now as a whole, would put cards on it:

* k < cards_per_server: the job goes inside one server, so a partly used server with
  at least k free cards, or any wholly free server, is usable;
* k == cards_per_server: any wholly free server is usable;
* k > cards_per_server (``full = k // cards_per_server`` whole servers and a remainder
  ``r = k % cards_per_server``), only if the pool can place k now (``Pool.can_fit``):
  its whole servers come from any wholly free server, except under
  ``pod_locality: require`` when ``full <= servers_per_pod``, where they come from one
  pod holding at least ``full`` free whole servers; a remainder r > 0 may go on a partly
  used server with at least r free cards or on any wholly free server.

**Fragmented cards** = the free cards of the servers that are not usable. Examples: free
cards on partly used servers that are fewer than every queued small job needs; free
whole servers when every queued job needs more whole servers than any pod (under
``require``) or the pool offers now. A pool with no queued shape has no fragmentation:
its free cards are idle, not fragmented (an empty queue wastes nothing by shape).

The value lies between 0 and the pool's free cards. It depends on the queue, so it
measures the mismatch between free capacity and demand, not capacity alone. Cost: O(the
distinct shapes + cards_per_server + servers_per_pod), from the pool's aggregate buckets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.fleet import Pool
    from simulator.job import TrainingJob


def fragmented_cards(pool: Pool, gang_sizes: Iterable[int]) -> int:
    """Free cards of ``pool`` that no queued shape in ``gang_sizes`` can use now.

    Args:
        pool: the pool, as it is now.
        gang_sizes: the gang sizes (cards) of the queued jobs that may use this pool
            (repeats allowed).

    Returns:
        The fragmented cards, as defined in the module docstring.

    Example:
        >>> from simulator.fleet import Pool
        >>> pool = Pool(index=0, centre="c", centre_index=0, name="p", card_type="A100",
        ...             cards_per_server=8, servers_per_pod=4, speed=1.0)
        >>> pool.add_servers(2)
        >>> _ = pool.allocate(5)  # 3 cards left on a partly used server, 1 whole server
        >>> fragmented_cards(pool, [4, 16])  # a 4-card job fits only the whole server
        3
        >>> fragmented_cards(pool, [2])  # a 2-card job could use either
        0
    """
    shapes = set(gang_sizes)
    if not shapes or pool.free_cards == 0:
        return 0
    cps = pool.cards_per_server
    # Smallest piece that may go on a partly used server; whole servers usable by all.
    smallest_piece = cps
    whole_all = False
    # Under require, the fewest free whole servers a pod needs to be usable.
    pod_need = pool.servers_per_pod + 1
    for k in shapes:
        if k < cps:
            smallest_piece = min(smallest_piece, k)
            whole_all = True
        elif k == cps:
            whole_all = True
        elif pool.can_fit(k):
            full, rest = divmod(k, cps)
            if rest:
                smallest_piece = min(smallest_piece, rest)
                whole_all = True
            elif pool.pod_locality != "require" or full > pool.servers_per_pod:
                whole_all = True
            else:
                pod_need = min(pod_need, full)
    fragmented = sum(f * len(pool.partial[f]) for f in range(1, min(smallest_piece, cps)))
    if not whole_all:
        buckets = pool.pod_free_bucket
        fragmented += cps * sum(c * len(buckets[c]) for c in range(1, min(pod_need, len(buckets))))
    return fragmented


def fleet_fragmentation(pools: Sequence[Pool], queued: Iterable[TrainingJob]) -> list[int]:
    """Fragmented cards of every pool, for the queued jobs (each counts on its pools).

    Args:
        pools: the pools, indexed as in ``job.eligible``.
        queued: the queued jobs to take the shapes from (for example
            ``view.waiting(limit)``, to bound the cost).

    Returns:
        Fragmented cards per pool, in pool order.
    """
    shapes: list[set[int]] = [set() for _ in pools]
    for job in queued:
        for p in job.eligible:
            shapes[p].add(job.cards)
    return [fragmented_cards(pool, s) for pool, s in zip(pools, shapes, strict=True)]
