"""A run leaves its process group cleanly: the DDP wrapper dies while the group is alive, then the group.

Freed the other way round, gloo's destructor can wait forever on a thread that needs the GIL (a
2-process run hung after printing its results); see `hf_nlp.errors.leave_process_group`."""

import gc
import weakref

import pytest
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from hf_nlp.errors import EXIT_USER_ERROR, UserError, exit_on_user_error


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
