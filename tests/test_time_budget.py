"""Issue 29: a time budget (`--minutes`, the Train tab's "train for"), and one default recipe per dataset that
the CLI and the Train tab agree on."""
import json

import pytest

from ganlab.cli import main
from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.devtools import wait_until
from ganlab.engine import Engine
from ganlab.errors import GanlabError
from ganlab.presets import dataset_recipe, preset
from ganlab.ui.train_handlers import DEFAULT_FORM, TrainHandlers, config_from_form

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_a_run_stops_by_itself_when_its_minutes_are_spent(tmp_path):
    cfg = RunConfig(DataConfig(name="ring"), ModelConfig(name="mlp"), TrainConfig(steps=10**7, minutes=0.02))
    e = Engine.new(cfg, tmp_path / "run")
    e.start()
    assert wait_until(lambda: e.state == "finished", 30)
    st = e.status()
    assert 1.2 <= st["trained_s"] < 5 and 0 < st["step"] < st["steps"] and st["budget_s"] == pytest.approx(1.2)
    assert st["checkpoint"] and st["checkpoint"].endswith(f"step_{st['step']:06d}")
    e.stop()
    with pytest.raises(GanlabError, match="time budget"):
        RunConfig(train=TrainConfig(minutes=-1)).validate()


def test_cli_minutes_stops_saves_and_says_how_far_it_got(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", "ring", "--steps", "10000000", "--minutes", "0.02", "--out", str(run)]) == 0
    err = capsys.readouterr().err
    assert "time budget of 0.02 min is spent" in err and "continue with" in err
    state = json.loads(next((run / "checkpoints").glob("step_*/state.json")).read_text())
    assert 0 < state["step"] < 10_000_000
    assert main(["train", "--resume", str(run), "--minutes", "0.01"]) == 0          # another budget from there
    later = max(int(p.name.split("_")[1]) for p in (run / "checkpoints").glob("step_*"))
    assert later > state["step"]


def test_the_cli_and_the_train_tab_pick_the_same_recipe_for_a_dataset(tmp_path, monkeypatch):
    recipe = dataset_recipe("fashion-mnist")
    assert recipe.model.name == "dcgan" and recipe == dataset_recipe("fashion-mnist", "dcgan")
    assert dataset_recipe("fashion-mnist", "mlp") is None and dataset_recipe("ring") is None
    # the Train tab: picking the set, then the model it suggests, then Start
    model, lr_g, lr_d = TrainHandlers.dataset_defaults("fashion-mnist")[1:4]
    lr_g2, lr_d2, ema, batch, loss = TrainHandlers.model_defaults(model, "fashion-mnist")
    form = dict(DEFAULT_FORM, dataset="fashion-mnist", model=model, lr_g=lr_g2, lr_d=lr_d2, ema=ema,
                batch_size=batch, loss=loss)
    tab = config_from_form(form)
    # the CLI with no flag but the data
    seen = {}

    def fake_new(cfg, folder, **kw):
        seen["cfg"] = cfg
        raise GanlabError("stop here")
    monkeypatch.setattr(Engine, "new", fake_new)
    assert main(["train", "--data", "fashion-mnist", "--minutes", "5", "--out", str(tmp_path / "x")]) == 2
    cli_cfg = seen["cfg"]
    for part in ("model", "train"):
        a, b = getattr(tab, part), getattr(cli_cfg, part)
        for field in ("name", "width", "z_dim", "d_norm", "loss", "batch_size", "lr_g", "lr_d", "beta1", "beta2",
                      "ema", "precision"):
            if hasattr(a, field):
                assert getattr(a, field) == getattr(b, field), (part, field)
    assert cli_cfg.train.minutes == 5 and cli_cfg.model.width == preset("fashion-mnist-fast").model.width
    # a flag typed on the command line still wins over the recipe
    main(["train", "--data", "fashion-mnist", "--width", "16", "--out", str(tmp_path / "y")])
    assert seen["cfg"].model.width == 16 and seen["cfg"].model.d_norm == "batch"


def test_the_train_tab_form_carries_the_time_budget():
    cfg = config_from_form(dict(DEFAULT_FORM, dataset="fashion-mnist", model="dcgan", minutes=2))
    assert cfg.train.minutes == 2 and cfg.model.d_norm == "batch" and cfg.model.width == 32   # the recipe's nets
    assert config_from_form(dict(DEFAULT_FORM, minutes=None)).train.minutes == 0
