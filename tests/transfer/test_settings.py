"""Transfer settings (``kerastricks.transfer.settings``): ``[model] init_from`` and ``[transfer]`` keys are checked
when the recipe is read (``kerastricks show`` answers), one line naming the file and the key."""

import pytest

from kerastricks.cli import main


@pytest.mark.parametrize("extra, fragments", [
    ("[transfer]\nfreeze_epochs = 1\n", ["transfer", "needs a model to transfer from"]),
    ('[model]\ninit_from = "a.keras"\n[transfer]\nunfreeze = "some"\n', ["transfer.unfreeze"]),
    ('[model]\ninit_from = "a.keras"\n[transfer]\nlr_mult = 0.5\n', ["transfer.lr_mult"]),
    ('[model]\ninit_from = "a.keras"\n[transfer]\n[techniques.ema]\n', ["techniques.ema", "not supported"]),
    ('[model]\ninit_from = "a.keras"\n[transfer]\n[schedule]\nname = "plateau"\n', ["schedule.name"]),
    ('[data]\nname = "digits"\nclasses = [3, 3]\n', ["data.classes", "two distinct"]),
])
def test_bad_transfer_recipe_keys(extra, fragments, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.keras").write_bytes(b"")  # exists: the schema checks no more than that
    text = "[train]\nepochs = 1\n" + extra
    (tmp_path / "r.toml").write_text(text)
    code = main(["show", "r.toml"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    for fragment in ["r.toml", *fragments]:
        assert fragment in err, (fragment, err)
