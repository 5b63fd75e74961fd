"""Where `facecorpus ingest` spends its time when no Prefect server runs, and what a running one saves.

    .venv/bin/python bench/prefect_server.py [--fixtures ../shared/fixtures]

In one run, on a one-still corpus (two_people.jpg), each step in its own empty HOME/PREFECT_HOME:
  import    `import prefect` in a fresh interpreter (every Prefect command pays it)
  temp-new  Prefect's temporary server alone (SubprocessASGIServer: a uvicorn subprocess), start to
            healthy, on an empty database (its first start: the schema is created)
  temp      the same again on that database (every later `ingest` without a server)
  ingest-t  `facecorpus ingest` with no server: the temporary server starts and stops inside it
  serve     `prefect server start` to healthy (paid once, then kept running)
  ingest-r  `facecorpus ingest` again on a fresh dataset folder, finding that running server at
            127.0.0.1:4200 (flows/server.py), PREFECT_API_URL unset
Prints a markdown table and the ratio ingest-t / ingest-r.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
FIXTURES = Path(os.environ.get("FACECORPUS_FIXTURES", REPO.parent / "shared" / "fixtures"))
START_SERVER = (
    "import time; from prefect.server.api.server import SubprocessASGIServer; t = time.perf_counter(); "
    "s = SubprocessASGIServer(); s.start(timeout=300); print(time.perf_counter() - t); s.stop()"
)


def env_in(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {**env, "HOME": str(home), "PREFECT_HOME": str(home / ".prefect"), "DVC_NO_ANALYTICS": "1"}


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{argv} failed:\n{result.stdout}\n{result.stderr}")
    return time.perf_counter() - started, result.stdout


def serve_until_healthy(env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen, float]:
    started = time.perf_counter()
    argv = [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", "4200"]
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while time.perf_counter() - started < 300:
        try:
            if httpx.get("http://127.0.0.1:4200/api/health", timeout=0.5).status_code == 200:
                return proc, time.perf_counter() - started
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("prefect server start: not healthy within 300 s")


def load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--fixtures", type=Path, default=FIXTURES)
    args = parser.parse_args()
    rows: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        corpus = tmp / "corpus"
        corpus.mkdir()
        shutil.copy(args.fixtures / "two_people.jpg", corpus / "two_people.jpg")
        ingest = [str(VENV_BIN / "facecorpus"), "ingest", str(corpus), "--workers", "1"]
        homes = {name: tmp / name for name in ("a", "b", "c")}
        for home in homes.values():
            home.mkdir()
        env = env_in(homes["a"])
        rows.append(("import", timed([sys.executable, "-c", "import prefect"], env, tmp)[0], load()))
        rows.append(("temp-new", float(timed([sys.executable, "-c", START_SERVER], env, tmp)[1]), load()))
        rows.append(("temp", float(timed([sys.executable, "-c", START_SERVER], env, tmp)[1]), load()))
        rows.append(("ingest-t", timed([*ingest, "--out", str(tmp / "out-t")], env_in(homes["b"]), tmp)[0], load()))
        env = env_in(homes["c"])
        server, serve_s = serve_until_healthy(env, tmp)
        try:
            rows.append(("serve", serve_s, load()))
            rows.append(("ingest-r", timed([*ingest, "--out", str(tmp / "out-r")], env, tmp)[0], load()))
        finally:
            server.terminate()
            server.wait(30)
    print("| step | seconds | load average after (1/5/15 min) |\n|---|---|---|")
    for name, seconds, after in rows:
        print(f"| {name} | {seconds:.2f} | {after} |")
    by = {name: s for name, s, _ in rows}
    print(
        f"\ningest without a server / with a running one: {by['ingest-t'] / by['ingest-r']:.2f}x "
        f"({by['ingest-t']:.2f} s against {by['ingest-r']:.2f} s)"
    )


if __name__ == "__main__":
    main()
