"""Run as a separate process by tests/flags/test_snapshot.py: evaluate one flag from this
process's own snapshot every 10 ms and say when its answer changes.

    python -m tests.flags.flag_watcher <flag key> <environment> <targeting key> <timeout s>

Prints "ready <variant>/<reason>" once, then "changed <unix time> <variant>/<reason>".
"""

import os
import sys
import time


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from flags import evaluation, snapshot

    flag_key, environment, targeting_key, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])

    def answer() -> str:
        compiled = snapshot.current().flags.get(flag_key)
        if compiled is None:
            return "missing"
        try:
            outcome = evaluation.evaluate(compiled, environment, targeting_key, {"targetingKey": targeting_key})
        except evaluation.EvaluationError as exc:
            return exc.code
        return f"{outcome.variant}/{outcome.reason}"

    first = answer()
    print(f"ready {first}", flush=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = answer()
        if now != first:
            print(f"changed {time.time():.6f} {now}", flush=True)
            return 0
        time.sleep(0.01)
    print("timeout", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
