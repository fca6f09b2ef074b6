"""The same bucket and the same answer in every process, whatever its PYTHONHASHSEED."""

import json
import os
import subprocess
import sys
from pathlib import Path

from flags.evaluation import bucket, compile_flag, compile_segments, evaluate

ROOT = Path(__file__).resolve().parents[2]
KEYS = 3000

SCRIPT = """
import json, sys
from flags.evaluation import bucket, compile_flag, compile_segments, evaluate
spec, keys = json.loads(sys.argv[1]), int(sys.argv[2])
flag = compile_flag(spec, compile_segments([{"key": "vip", "targeting_keys": ["u7", "u9"]}]), ("production",))
answers = [[bucket("new-checkout", f"u{i}"), evaluate(flag, "production", f"u{i}", {}).variant] for i in range(keys)]
print(json.dumps(answers))
"""

SPEC = {
    "key": "new-checkout",
    "type": "boolean",
    "variants": {"on": True, "off": False},
    "on_variant": "on",
    "off_variant": "off",
    "killed": False,
    "fixed_exposure": 37,
    "segments": ["vip"],
    "release": None,
}


def here() -> list:
    flag = compile_flag(SPEC, compile_segments([{"key": "vip", "targeting_keys": ["u7", "u9"]}]), ("production",))
    return [[bucket("new-checkout", f"u{i}"), evaluate(flag, "production", f"u{i}", {}).variant] for i in range(KEYS)]


def test_bucketing__processes_with_different_hash_seeds__identical_answers():
    results = []
    for seed in ("0", "1", "4242", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT, json.dumps(SPEC), str(KEYS)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        results.append(json.loads(out.stdout))
    expected = here()
    assert all(r == expected for r in results)
    assert {v for _, v in expected} == {"on", "off"}
