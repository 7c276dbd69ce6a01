"""Fleet bookkeeping: pools of servers and pods, exact placement kept in aggregate.

A :class:`Pool` is one card type in servers of ``cards_per_server`` cards, grouped in
pods (network domains). Placement is exact (a job knows which servers it holds) but the
bookkeeping is aggregate, so its cost does not grow with the number of cards:

* a fully free server sits in its pod's stack of free servers;
* a server shared by small jobs sits in ``partial[f]``, the ordered set of servers with
  ``f`` free cards (1 <= f < cards_per_server), or in no set when it is full;
* pods are bucketed by their number of free whole servers, with bit masks of the
  non-empty buckets so that "the smallest bucket with at least k" is one bit operation.

Jobs of at most one server's cards run inside one server (best fit: the fullest server
that fits; worst fit: the emptiest). Larger jobs take ``cards // cards_per_server`` whole
servers, in one pod when one has room (``prefer``), or only in one pod when the job fits
a pod (``require``), or anywhere (``ignore``); the remainder ``cards % cards_per_server``
is placed like a small job. Allocation and release cost O(1) Python operations per pod
touched; whole-server lists move with C-level slicing.

Servers can be online yet neither free nor busy: kept as hot spares (``spares``), in
repair (a failed server, or a failed job's cards inside a shared server, held by the
engine as a :class:`Placement`), or held for maintenance (:class:`Hold`, which takes free
servers at once and busy ones as their jobs release them).

Invariants (checked by the tests): ``0 <= free_cards <= online_cards``;
``free_cards == cards_per_server * whole_free + sum(f * len(partial[f]))``; and, with the
jobs' cards, ``online = busy + free + spare + repair + maintenance``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# A placement: whole-server segments as (pod, [server ids]), and the small part as
# (server id, cards) or None.
Segments = list[tuple[int, list[int]]]


@dataclass(slots=True)
class Placement:
    segments: Segments
    small_server: int
    small_cards: int


@dataclass(slots=True)
class Hold:
    """Servers held out of service for maintenance: ``taken`` now, ``pending`` to come."""

    pending: int
    taken: Segments


def _low_bit(mask: int) -> int:
    """Index of the lowest set bit of a positive int."""
    return (mask & -mask).bit_length() - 1


class Pool:
    """One card type at one centre: servers, pods and their free capacity."""

    __slots__ = (
        "index",
        "centre",
        "centre_index",
        "name",
        "card_type",
        "cards_per_server",
        "servers_per_pod",
        "speed",
        "worst_fit",
        "pod_locality",
        "online_servers",
        "online_cards",
        "free_cards",
        "whole_free",
        "pod_stack",
        "pod_size",
        "pod_free_bucket",
        "pod_mask",
        "pod_of",
        "partial",
        "partial_mask",
        "used_free",
        "pending_retire",
        "on_capacity_change",
        "max_cards",
        "spares",
        "spare_count",
        "spare_fraction",
        "repair_cards",
        "maintenance_cards",
        "pending_holds",
        "on_hold_filled",
    )

    def __init__(
        self,
        *,
        index: int,
        centre: str,
        centre_index: int,
        name: str,
        card_type: str,
        cards_per_server: int,
        servers_per_pod: int,
        speed: float,
        small_jobs: str = "best_fit",
        pod_locality: str = "prefer",
        max_cards: int = 0,
    ) -> None:
        self.index = index
        self.centre = centre
        self.centre_index = centre_index
        self.name = name
        self.card_type = card_type
        self.cards_per_server = cards_per_server
        self.servers_per_pod = servers_per_pod
        self.speed = speed
        self.worst_fit = small_jobs == "worst_fit"
        self.pod_locality = pod_locality
        self.max_cards = max_cards
        self.online_servers = 0
        self.online_cards = 0
        self.free_cards = 0
        self.whole_free = 0
        self.pod_stack: list[list[int]] = []  # free whole servers of each pod
        self.pod_size: list[int] = []  # servers ever assigned to each pod
        # pod_free_bucket[c]: ordered set (dict) of pods with exactly c free whole servers.
        self.pod_free_bucket: list[dict[int, None]] = [{} for _ in range(servers_per_pod + 1)]
        self.pod_mask = 0  # bit c set when pod_free_bucket[c] is non-empty (c >= 1)
        self.pod_of: list[int] = []
        self.partial: list[dict[int, None]] = [{} for _ in range(cards_per_server)]
        self.partial_mask = 0  # bit f set when partial[f] is non-empty
        self.used_free: dict[int, int] = {}  # server -> free cards, for servers small jobs use
        self.pending_retire = 0
        self.on_capacity_change: Callable[[Pool, int, str], None] | None = None
        self.spares: dict[int, list[int]] = {}  # hot-spare servers by pod (non-empty lists)
        self.spare_count = 0
        self.spare_fraction = 0.0
        self.repair_cards = 0  # cards in repair (the engine holds their placements)
        self.maintenance_cards = 0  # cards held by maintenance windows
        self.pending_holds: list[Hold] = []  # holds still waiting for busy servers
        # Called when servers released by any path go to a waiting hold (the engine
        # records the maintenance level then).
        self.on_hold_filled: Callable[[Pool], None] | None = None

    # ------------------------------------------------------------------ capacity

    def add_servers(self, n: int, label: str = "") -> None:
        """Bring ``n`` new servers online, filling the last pod first, then new pods."""
        added = 0
        while added < n:
            if self.pod_size and self.pod_size[-1] < self.servers_per_pod:
                pod = len(self.pod_size) - 1
            else:
                pod = len(self.pod_size)
                self.pod_stack.append([])
                self.pod_size.append(0)
            room = self.servers_per_pod - self.pod_size[pod]
            take = min(room, n - added)
            first = len(self.pod_of)
            ids = list(range(first, first + take))
            self.pod_of.extend([pod] * take)
            self.pod_size[pod] += take
            self._push_free(pod, ids)
            added += take
        self.online_servers += n
        self.online_cards += n * self.cards_per_server
        self.free_cards += n * self.cards_per_server
        if self.on_capacity_change is not None:
            self.on_capacity_change(self, n * self.cards_per_server, label)

    def retire_servers(self, n: int, label: str = "") -> None:
        """Take ``n`` servers out of service: free ones at once, busy ones as they free up."""
        self.pending_retire += n
        self._retire_free(label)

    def _retire_free(self, label: str) -> None:
        removed = 0
        while self.pending_retire > 0 and self.pod_mask:
            pod = next(iter(self.pod_free_bucket[_low_bit(self.pod_mask)]))
            stack = self.pod_stack[pod]
            take = min(len(stack), self.pending_retire)
            del stack[len(stack) - take :]
            self._set_pod_free(pod, len(stack) + take, len(stack))
            self.whole_free -= take
            self.pending_retire -= take
            removed += take
        if removed:
            cards = removed * self.cards_per_server
            self.online_servers -= removed
            self.online_cards -= cards
            self.free_cards -= cards
            if self.on_capacity_change is not None:
                self.on_capacity_change(self, -cards, label or "retirement")

    # ------------------------------------------------------------------ queries

    def can_fit(self, cards: int) -> bool:
        """Whether a job of ``cards`` cards can be placed now."""
        cps = self.cards_per_server
        if cards > self.free_cards:
            return False
        if cards <= cps:
            if cards == cps:
                return self.whole_free > 0
            return bool(self.partial_mask >> cards) or self.whole_free > 0
        full, rest = divmod(cards, cps)
        needs_one_pod = self.pod_locality == "require" and full <= self.servers_per_pod
        if needs_one_pod and not self.pod_mask >> full:
            return False
        if rest and not (self.partial_mask >> rest):
            full += 1
        return self.whole_free >= full

    # ------------------------------------------------------------------ allocation

    def allocate(self, cards: int) -> Placement:
        """Place a job of ``cards`` cards; the caller checked :meth:`can_fit`."""
        cps = self.cards_per_server
        self.free_cards -= cards
        if cards < cps:
            return Placement([], self._allocate_small(cards), cards)
        full, rest = divmod(cards, cps)
        segments = self._allocate_whole(full)
        if rest:
            return Placement(segments, self._allocate_small(rest), rest)
        return Placement(segments, -1, 0)

    def _allocate_small(self, k: int) -> int:
        cps = self.cards_per_server
        mask = self.partial_mask >> k
        if mask and not (self.worst_fit and self.whole_free):
            f = k + (_low_bit(mask) if not self.worst_fit else mask.bit_length() - 1)
            bucket = self.partial[f]
            server, _ = bucket.popitem()
            if not bucket:
                self.partial_mask &= ~(1 << f)
        else:
            (pod, ids) = self._allocate_whole(1)[0]
            server = ids[0]
            f = cps
        left = f - k
        self.used_free[server] = left
        if left:
            self.partial[left][server] = None
            self.partial_mask |= 1 << left
        return server

    def _allocate_whole(self, n: int) -> Segments:
        """Take ``n`` free whole servers, in as few pods as the locality rule allows:
        the pod with the fewest free servers that suffice (best fit), else pod after pod
        with the most free servers. (Every whole-server start comes here: one loop, no
        calls.)"""
        self.whole_free -= n
        segments: Segments = []
        buckets = self.pod_free_bucket
        stacks = self.pod_stack
        mask = self.pod_mask
        fits_one = mask >> n if self.pod_locality != "ignore" else 0
        need = n
        while need:
            if fits_one:
                c = n + (fits_one & -fits_one).bit_length() - 1
                fits_one = 0
            else:
                c = mask.bit_length() - 1
            bucket = buckets[c]
            pod = next(iter(bucket))
            take = c if c < need else need
            stack = stacks[pod]
            segments.append((pod, stack[c - take :]))
            del stack[c - take :]
            del bucket[pod]
            if not bucket:
                mask &= ~(1 << c)
            if c > take:
                buckets[c - take][pod] = None
                mask |= 1 << (c - take)
            need -= take
        self.pod_mask = mask
        return segments

    # ------------------------------------------------------------------ release

    def release(self, placement: Placement) -> None:
        """Return a job's servers and cards."""
        segments = placement.segments
        if segments:
            buckets = self.pod_free_bucket
            cps = self.cards_per_server
            for pod, ids in segments:
                # self._push_free(pod, ids), inlined (every whole-server end comes here)
                n = len(ids)
                if not n:
                    continue
                stack = self.pod_stack[pod]
                before = len(stack)
                stack.extend(ids)
                self.whole_free += n
                self.free_cards += n * cps
                if before:
                    bucket = buckets[before]
                    del bucket[pod]
                    if not bucket:
                        self.pod_mask &= ~(1 << before)
                buckets[before + n][pod] = None
                self.pod_mask |= 1 << (before + n)
        if placement.small_cards:
            self._release_small(placement.small_server, placement.small_cards)
        if self.pending_retire:
            self._retire_free("retirement")
        if self.pending_holds:
            self._fill_holds()

    def _release_small(self, server: int, k: int) -> None:
        f = self.used_free[server]
        if f:
            bucket = self.partial[f]
            del bucket[server]
            if not bucket:
                self.partial_mask &= ~(1 << f)
        f += k
        self.free_cards += k
        if f == self.cards_per_server:
            del self.used_free[server]
            self._push_free(self.pod_of[server], [server])
        else:
            self.used_free[server] = f
            self.partial[f][server] = None
            self.partial_mask |= 1 << f

    def _push_free(self, pod: int, ids: list[int]) -> None:
        stack = self.pod_stack[pod]
        before = len(stack)
        stack.extend(ids)
        self.whole_free += len(ids)
        self._set_pod_free(pod, before, len(stack))

    def _set_pod_free(self, pod: int, old: int, new: int) -> None:
        if old == new:
            return
        buckets = self.pod_free_bucket
        if old:
            bucket = buckets[old]
            del bucket[pod]
            if not bucket:
                self.pod_mask &= ~(1 << old)
        if new:
            buckets[new][pod] = None
            self.pod_mask |= 1 << new

    # ------------------------------------------------------------------ out of service

    @property
    def spare_cards(self) -> int:
        return self.spare_count * self.cards_per_server

    @property
    def max_usable_cards(self) -> int:
        """The most cards jobs can ever hold at once: all servers but the hot spares."""
        servers = self.max_cards // self.cards_per_server
        return (servers - int(self.spare_fraction * servers)) * self.cards_per_server

    @property
    def spare_target(self) -> int:
        """Hot-spare servers the pool keeps: ``spare_fraction`` of its online servers."""
        return int(self.spare_fraction * self.online_servers)

    def fill_spares(self) -> None:
        """Move free whole servers into the hot spares until the target is reached."""
        want = min(self.spare_target - self.spare_count, self.whole_free)
        if want > 0:
            self.free_cards -= want * self.cards_per_server
            for pod, ids in self._allocate_whole(want):
                self._add_spares(pod, ids)

    def _add_spares(self, pod: int, ids: list[int]) -> None:
        self.spares.setdefault(pod, []).extend(ids)
        self.spare_count += len(ids)

    def _pop_spare(self, pod: int) -> int:
        ids = self.spares[pod]
        server = ids.pop()
        if not ids:
            del self.spares[pod]
        self.spare_count -= 1
        return server

    def take_spare(self, pod: int) -> tuple[int, int] | None:
        """A hot-spare server (pod, server) to replace a failed server of ``pod``: one in
        the same pod when there is one; under ``pod_locality: require`` only such a one
        (a job placed inside one pod stays inside it); None when there is none."""
        if pod in self.spares:
            return pod, self._pop_spare(pod)
        if not self.spares or self.pod_locality == "require":
            return None
        other = next(iter(self.spares))
        return other, self._pop_spare(other)

    def split_failed(self, placement: Placement) -> tuple[Placement, Placement]:
        """Split a job's placement into the failed part and the rest, in O(1).

        The failed part is the job's last whole server (a job's servers are alike), or,
        for a job inside one server, its cards there. The rest is ``placement`` itself,
        shortened in place (the job owns it), so a job interrupted 10^5 times costs no
        more per interruption than one interrupted once.
        """
        segments = placement.segments
        if not segments:
            return placement, Placement([], -1, 0)
        pod, ids = segments[-1]
        server = ids.pop()
        if not ids:
            segments.pop()
        return Placement([(pod, [server])], -1, 0), placement

    @staticmethod
    def join_server(placement: Placement, pod: int, server: int) -> None:
        """Add whole server ``server`` of ``pod`` to a job's placement (a hot spare that
        replaces a failed server), into its last segment when that is the same pod."""
        segments = placement.segments
        if segments and segments[-1][0] == pod:
            segments[-1][1].append(server)
        else:
            segments.append((pod, [server]))

    def start_repair(self, failed: Placement) -> None:
        """Count a failed part (already allocated) as in repair."""
        self.repair_cards += _cards_of(failed, self.cards_per_server)

    def fail_idle(self, u: float) -> Placement | None:
        """An idle card fails: ``u`` uniform in [0, 1) picks it among free and spare cards.

        A card of a fully free server or of a spare takes its whole server into repair;
        a free card of a shared server goes into repair alone. Returns the placement now
        in repair (None when there is no idle card).
        """
        idle = self.free_cards + self.spare_cards
        if idle <= 0:
            return None
        x = u * idle
        cps = self.cards_per_server
        if x < self.whole_free * cps:
            self.free_cards -= cps
            failed = Placement(self._allocate_whole(1), -1, 0)
        elif x < self.free_cards:
            self.free_cards -= 1
            failed = Placement([], self._allocate_small(1), 1)
        else:
            pod = next(iter(self.spares))
            failed = Placement([(pod, [self._pop_spare(pod)])], -1, 0)
        self.start_repair(failed)
        return failed

    def end_repair(self, repaired: Placement) -> None:
        """A repaired part returns: to the hot spares when they are short, else free."""
        self.repair_cards -= _cards_of(repaired, self.cards_per_server)
        if not repaired.small_cards and self.spare_count < self.spare_target:
            for pod, ids in repaired.segments:
                self._add_spares(pod, ids)
            return
        self.release(repaired)

    def hold_servers(self, n: int) -> Hold:
        """Hold ``n`` servers for maintenance: free ones now, the rest as jobs release them."""
        hold = Hold(n, [])
        self.pending_holds.append(hold)
        self._fill_holds()
        return hold

    def _fill_holds(self) -> None:
        cps = self.cards_per_server
        while self.pending_holds and self.whole_free:
            hold = self.pending_holds[0]
            take = min(hold.pending, self.whole_free)
            self.free_cards -= take * cps
            self.maintenance_cards += take * cps
            hold.taken.extend(self._allocate_whole(take))
            hold.pending -= take
            if not hold.pending:
                self.pending_holds.pop(0)
            if self.on_hold_filled is not None:
                self.on_hold_filled(self)

    def release_hold(self, hold: Hold) -> None:
        """End a maintenance hold: its servers come back free; nothing more is taken."""
        if hold in self.pending_holds:
            self.pending_holds.remove(hold)
        taken, hold.taken, hold.pending = hold.taken, [], 0
        self.maintenance_cards -= sum(len(ids) for _, ids in taken) * self.cards_per_server
        self.release(Placement(taken, -1, 0))

    # ------------------------------------------------------------------ checks

    def check(self) -> None:
        """Assert the bookkeeping invariants (used by tests; O(servers))."""
        cps = self.cards_per_server
        partial_cards = sum(f * len(b) for f, b in enumerate(self.partial))
        whole = sum(len(s) for s in self.pod_stack)
        assert whole == self.whole_free, (whole, self.whole_free)
        assert self.free_cards == cps * whole + partial_cards, "free-card count drifted"
        assert 0 <= self.free_cards <= self.online_cards
        for c, bucket in enumerate(self.pod_free_bucket):
            for pod in bucket:
                assert len(self.pod_stack[pod]) == c
            assert bool(bucket) == bool(self.pod_mask >> c & 1) or c == 0
        for f, bucket in enumerate(self.partial):
            assert bool(bucket) == bool(self.partial_mask >> f & 1) or f == 0
        for left in self.used_free.values():
            assert 0 <= left < cps

    @property
    def busy_cards(self) -> int:
        """Cards running jobs: online minus free, spare, in repair and in maintenance."""
        return (
            self.online_cards
            - self.free_cards
            - self.spare_cards
            - self.repair_cards
            - self.maintenance_cards
        )


def _cards_of(placement: Placement, cards_per_server: int) -> int:
    whole = sum(len(ids) for _, ids in placement.segments)
    return whole * cards_per_server + placement.small_cards
