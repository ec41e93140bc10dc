"""``kerastricks train``'s process-group arguments (``kerastricks.distribute.cli``): every refusal is one line,
exit 2, before Keras, and leaves no run directory behind."""

import os

import pytest

from kerastricks.cli import main


@pytest.mark.parametrize(("args", "words"), [
    (["--workers", "2", "--set", "train.distribute=mirrored", "--set", "train.backend=tensorflow"],
     ["key '--workers'", "keras-team/keras#20585", "'data_parallel'"]),
    (["--workers", "2"], ["key '--workers'", "'data_parallel'"]),
    (["--workers", "2", "--set", "train.distribute=data_parallel", "--set", "train.backend=jax",
      "--set", "train.batch_size=33", "--set", "train.devices=1"], ["key 'train.batch_size'", "1 x 2"]),
    (["--num-processes", "2", "--process-id", "0", "--set", "train.distribute=data_parallel",
      "--set", "train.backend=jax"], ["key '--coordinator'", "HOST:PORT"]),
    (["--coordinator", "127.0.0.1:1", "--num-processes", "2", "--process-id", "2"],
     ["key '--process-id'", "0 <= id < 2"]),
    (["--workers", "2", "--process-id", "0"], ["key '--process-id'", "either --workers"]),
])
def test_cli_refuses_process_groups_in_one_line(tmp_path, monkeypatch, capsys, args, words):
    for key in [k for k in os.environ if k.startswith("KERAS_DISTRIBUTION_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.toml").write_text('[data]\nname = "digits"\n[train]\nepochs = 1\n')
    environ = dict(os.environ)
    code = main(["train", "r.toml", "--out", "run", *args])
    err = capsys.readouterr().err
    assert code == 2, err[-2000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kerastricks: error: "), err[-2000:]
    assert all(w in lines[0] for w in words), lines[0]
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()
    assert dict(os.environ) == environ  # a refused group exports nothing
