"""ResumableStream: a shuffled, per-process stream whose state, saved between any two batches and read
back from JSON, continues with exactly the examples an uninterrupted iteration gives."""

import json

import pytest
from datasets import Dataset

from hf_nlp.data.streaming import ResumableStream


def source(rows: int = 250):
    return Dataset.from_dict({"n": list(range(rows))}).to_iterable_dataset(num_shards=3)


def keep_odd_rows(row: int, example: dict) -> dict | None:
    assert example["n"] == row  # rows arrive in order, numbered from 0
    return {"n": row} if row % 2 else None


def stream(**settings) -> ResumableStream:
    return ResumableStream(source(), keep_odd_rows, **{"batch_size": 4, "seed": 0, "buffer_size": 16, **settings})


def numbers(examples) -> list[int]:
    return [e["n"] for e in examples]


def test_one_epoch_is_a_seeded_shuffle_of_the_prepared_rows():
    first, again = numbers(stream()), numbers(stream())
    assert sorted(first) == list(range(1, 250, 2))  # every kept row once
    assert first != sorted(first) and first == again
    assert numbers(stream(seed=1)) != first


def test_each_epoch_has_its_own_order():
    data = stream()
    data.set_epoch(1)
    assert numbers(data) != numbers(stream())


def test_buffer_of_one_keeps_the_file_order():
    assert numbers(stream(buffer_size=1)) == list(range(1, 250, 2))


@pytest.mark.parametrize("batches_before", [0, 1, 3, 10, 30])  # 30: the buffer is draining (125 rows kept)
def test_state_between_batches_resumes_exactly_across_epochs(batches_before):
    uninterrupted = stream()
    expected = numbers(uninterrupted)
    uninterrupted.set_epoch(1)
    expected_next_epoch = numbers(uninterrupted)

    interrupted = stream()
    iterator = iter(interrupted)
    seen = [next(iterator)["n"] for _ in range(batches_before * 4)]
    state = json.loads(json.dumps(interrupted.state_dict()))  # what a checkpoint stores

    resumed = stream()
    resumed.load_state_dict(state)
    assert seen + numbers(resumed) == expected
    resumed.set_epoch(1)
    assert numbers(resumed) == expected_next_epoch  # the loaded state applies to one iteration only


def test_processes_split_every_global_batch_and_stop_together():
    alone = numbers(stream(batch_size=8))
    first, second = (numbers(stream(num_processes=2, process_index=i)) for i in (0, 1))
    assert len(first) == len(second) == 60  # 125 kept rows: 15 global batches of 8; the last 5 rows are dropped
    for batch in range(15):
        together = alone[8 * batch: 8 * batch + 8]
        assert first[4 * batch: 4 * batch + 4] == together[:4] and second[4 * batch: 4 * batch + 4] == together[4:]
