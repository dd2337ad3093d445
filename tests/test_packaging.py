"""environment.yml and pyproject.toml list the same packages; the profile switch is validated."""
import pathlib
import re
import tomllib

import pytest

import styletalker as st

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!\[ ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_matches_pyproject():
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in proj["dependencies"] + proj["optional-dependencies"]["dev"]}
    env = (ROOT / "environment.yml").read_text()
    pip = [ln.strip()[2:] for ln in env.split("- pip:")[1].splitlines() if ln.strip().startswith("- ")]
    listed = {_name(r) for r in pip if not r.startswith("-e")}
    assert listed == wanted
    assert "torch==2.13.0" in pip


def test_profiles():
    assert st.data_config("quick").resolution <= st.data_config("default").resolution == 64
    assert st.data_config("full").resolution >= 128
    with pytest.raises(st.StyletalkerError, match="unknown profile"):
        st.profile("medium")
