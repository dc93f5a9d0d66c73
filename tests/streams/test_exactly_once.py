"""The rules stage's ledger store: one shard per partition, and the changes a transaction must carry."""

from __future__ import annotations

import pytest

from streams.exactly_once import LedgerShards


def shards_with(**partitions: dict[str, object]) -> LedgerShards:
    shards = LedgerShards()
    for name, state in partitions.items():
        shards.restore(int(name.removeprefix("p")), dict(state))
    return shards


def test_each_partition_reads_and_writes_its_own_shard() -> None:
    shards = shards_with(p0={"story:a": 1}, p1={"story:b": 2})
    shards.select(0)
    shards["story:c"] = 3
    assert dict(shards) == {"story:a": 1, "story:c": 3}
    shards.select(1)
    assert dict(shards) == {"story:b": 2}
    assert "story:c" not in shards


def test_changes_name_each_written_key_once_and_deleted_keys_with_none() -> None:
    shards = shards_with(p0={"story:a": 1, "story:b": 2})
    shards.select(0)
    shards["story:a"] = 10
    shards["story:a"] = 11
    del shards["story:b"]
    assert shards.take_changes() == [("story:a", 11), ("story:b", None)]
    assert shards.take_changes() == []


def test_selecting_a_partition_starts_with_no_changes() -> None:
    shards = shards_with(p0={}, p1={})
    shards.select(0)
    shards["story:a"] = 1
    shards.select(1)
    assert shards.take_changes() == []


def test_a_dropped_partition_cannot_be_selected_until_restored() -> None:
    shards = shards_with(p0={"story:a": 1})
    shards.drop(0)
    with pytest.raises(KeyError):
        shards.select(0)
    shards.restore(0, {"story:a": 2})
    shards.select(0)
    assert shards["story:a"] == 2
