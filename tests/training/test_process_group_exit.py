"""A run leaves its process group cleanly: the DDP wrapper dies while the group is alive, then the group.

Freed the other way round, gloo's destructor can wait forever on a thread that needs the GIL (a
2-process run hung after printing its results); see `hf_nlp.errors.leave_process_group`."""

import gc
import weakref

import pytest
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from hf_nlp.errors import (
    EXIT_LOST_PROCESS,
    EXIT_USER_ERROR,
    UserError,
    exit_on_user_error,
    lost_process_reason,
)


@pytest.fixture
def gloo_group(tmp_path):
    """A one-process gloo group in this process, as `torchrun` would make it; destroyed if the test left it."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


def ddp_watch(freed_while_initialized: list[bool]) -> DistributedDataParallel:
    model = DistributedDataParallel(torch.nn.Linear(3, 2))
    model(torch.ones(4, 3)).sum().backward()  # the reducer has worked with the group
    weakref.finalize(model, lambda: freed_while_initialized.append(dist.is_initialized()))
    return model


@pytest.mark.parametrize("ending", ["returns", "user_error", "interrupted"])
def test_the_wrapper_frees_the_run_then_leaves_the_group(gloo_group, ending, capsys):
    freed_while_initialized: list[bool] = []

    def main():
        model = ddp_watch(freed_while_initialized)
        if ending == "user_error":
            raise UserError("pass a better flag.")
        if ending == "interrupted":
            raise KeyboardInterrupt
        return model.module.weight.shape

    if ending == "returns":
        assert exit_on_user_error(main)() == (2, 3)
    else:
        with pytest.raises(SystemExit) as exit_info:
            exit_on_user_error(main)()
        assert exit_info.value.code == (EXIT_USER_ERROR if ending == "user_error" else 130)
        assert capsys.readouterr().err == ("error: pass a better flag.\n" if ending == "user_error" else "interrupted\n")
    assert freed_while_initialized == [True]  # the DDP wrapper died first, with the group alive
    assert not dist.is_initialized()


def test_a_bug_keeps_its_traceback(gloo_group):
    def main():
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        exit_on_user_error(main)()


def test_without_a_group_the_wrapper_does_nothing_more():
    assert not dist.is_initialized()
    assert exit_on_user_error(lambda: 7)() == 7
    gc.collect()


GLOO_RESET = ("[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:537] Read error [127.0.0.1]:34219: "
              "Connection reset by peer. This is typically caused by a remote worker hanging or bugs in the "
              "application. Check the logs of the remote worker before reporting an error. GLHF!")


def test_a_lost_peer_is_one_sentence_and_exit_3(gloo_group, capsys):
    """What gloo raises when another machine dies (seen in tests/cluster) becomes one line naming what to do."""
    def main():
        raise RuntimeError(GLOO_RESET)

    with pytest.raises(SystemExit) as exit_info:
        exit_on_user_error(main)()
    assert exit_info.value.code == EXIT_LOST_PROCESS
    (line,) = capsys.readouterr().err.splitlines()
    assert line == ("error: another process of this run stopped or became unreachable (Read error "
                    "[127.0.0.1]:34219: Connection reset by peer); see that process' own output for why; once every "
                    "machine is back, rerun the same command on each (it resumes from the newest complete checkpoint).")


def test_only_communication_failures_in_a_process_group_read_as_a_lost_peer(gloo_group):
    assert lost_process_reason(RuntimeError(GLOO_RESET)) == "Read error [127.0.0.1]:34219: Connection reset by peer"
    assert lost_process_reason(dist.DistBackendError("NCCL error: unhandled system error")) == \
        "NCCL error: unhandled system error"
    assert lost_process_reason(RuntimeError("mat1 and mat2 shapes cannot be multiplied")) is None
    assert lost_process_reason(ValueError("Connection reset by peer")) is None  # not from torch.distributed


def test_outside_a_process_group_nothing_reads_as_a_lost_peer():
    assert lost_process_reason(RuntimeError(GLOO_RESET)) is None
