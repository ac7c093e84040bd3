"""Run one of the book's framework scripts in the interpreter of its environment.

``python _runner.py SCRIPT INPUTS.npz OUT_DIR``: the script runs as ``__main__``
with three globals, ``inputs`` (the arrays of INPUTS.npz), ``outputs`` (a dict
of arrays it fills, saved to OUT_DIR/outputs.npz) and ``info`` (a dict of JSON
values, saved to OUT_DIR/info.json). Only numpy is needed besides the script's
own framework. Started by ``d2l.run_in_env``.
"""

import json
import os
import runpy
import sys

import numpy as np

script, in_path, out_dir = sys.argv[1:4]
sys.path.insert(0, os.path.dirname(os.path.abspath(script)))  # the script's helpers (gluonbook_shim)
with np.load(in_path) as data:
    inputs = {key: data[key] for key in data.files}
outputs, info = {}, {}
runpy.run_path(script, init_globals={"inputs": inputs, "outputs": outputs, "info": info}, run_name="__main__")
np.savez(os.path.join(out_dir, "outputs.npz"), **{k: np.asarray(v) for k, v in outputs.items()})
with open(os.path.join(out_dir, "info.json"), "w", encoding="utf-8") as f:
    json.dump(info, f, ensure_ascii=False)
