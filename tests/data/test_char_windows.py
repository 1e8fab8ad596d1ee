import torch

from hf_nlp.data.char_windows import CharWindows, StatefulWindows


def test_char_windows_shift_targets_by_one():
    ids = torch.arange(50)
    windows = CharWindows(ids, window=10, stride=1)
    assert len(windows) == 40
    item = windows[7]
    assert item["input_ids"].tolist() == list(range(7, 17))
    assert item["shift_labels"].tolist() == list(range(8, 18))
    assert len(CharWindows(ids, window=10, stride=10)) == 4  # non-overlapping: 0..39 (+1 target)


def test_stateful_windows_continue_each_stream_on_each_process():
    ids = torch.arange(1 + 2 * 3 * 4 * 5)  # 2 processes x 3 streams each, 4 windows of 5 per stream
    data = StatefulWindows(ids, window=5, batch_size=3, num_processes=2)
    assert data.stream_length == 20 and data.windows_per_stream == 4 and len(data) == 24
    batches = [torch.stack([data[i]["input_ids"] for i in range(b * 3, b * 3 + 3)]) for b in range(8)]
    # accelerate deals global batches round-robin: process p gets batches p, p+2, p+4, ...
    for process in range(2):
        mine = batches[process::2]
        for previous, current in zip(mine, mine[1:], strict=False):
            assert torch.equal(current[:, 0], previous[:, -1] + 1)  # every row continues its stream
        streams = mine[0][:, 0].tolist()
        assert streams == [(process * 3 + row) * 20 for row in range(3)]
    targets = data[0]["shift_labels"]
    assert torch.equal(targets, data[0]["input_ids"] + 1)
