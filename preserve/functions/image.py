"""The function image: the pinned analysis image plus a thin layer with the shim.

Deploying never rebuilds the analysis. The layer adds, through the Docker
Engine API (a tar context, the classic builder, no network), only:

* ``/opt/preserve-shim/shim.pyz``: the shim, a zipapp of ``preserve/shim``
  (stdlib only), byte-for-byte reproducible;
* ``/opt/preserve-shim/function/``: ``function.json`` and the crate's files the
  function carries (its configuration and the inputs the crate held);
* ``/preserve``: an empty folder any user may write (inputs, outputs, cache);
* labels naming the function and the base image's digest, and an entry point
  that runs the shim with the image's own ``python3 -I -S`` (no ``PYTHON*``
  variables, no user or site packages: it changes nothing in the analysis'
  environment and uses nothing of it).

Before building, the base image is probed for a ``python3`` the shim can run in
(>= 3.8 with ``ssl``, ``json``, ``http.server``...); an image without one is
refused, saying why. After building, the shim itself is run once in the new
image. Images are tagged by the hash of what went in, so a second deploy of
the same function reuses its image.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import tarfile
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preserve.engine import docker_client
from preserve.errors import BuildError
from preserve.functions.definition import Definition
from preserve.progress import Progress
from preserve.rerun.fetch import fetch_image
from preserve.runners.base import open_runner
from preserve.settings import Settings
from preserve.shim import SHIM_VERSION
from preserve.shim.__main__ import NEEDED
from preserve.targets.base import FunctionImage

SHIM_DIR = Path(__file__).resolve().parent.parent / "shim"
SHARED = ("secrets.py", "scrub.py")  # stdlib-only modules of preserve the shim imports
HOME = "/opt/preserve-shim"
REPOSITORY = "preserve-function"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: a reproducible archive
# Runs in the base image as ``python3 -I -S -c``: what the shim needs, or why not.
_PROBE = (
    "import importlib.util, json, sys\n"
    f"needed = {list(NEEDED)!r}\n"
    "missing = [m for m in needed if importlib.util.find_spec(m) is None]\n"
    "print(json.dumps({'python': list(sys.version_info[:3]), "
    "'executable': sys.executable, 'missing': missing}))\n"
)


@dataclass(frozen=True)
class Probe:
    python: str  # absolute path of the image's python3
    version: tuple[int, ...]
    env: list[str]  # the image's configured environment
    workdir: str | None
    user: str | None


def zipapp() -> bytes:
    """The shim as a zipapp: ``preserve/shim/*.py``, the secrets policy and a ``__main__.py``,
    reproducible."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        members = {
            "__main__.py": b"import sys\nfrom preserve.shim.__main__ import main\n"
            b"sys.exit(main())\n",
            "preserve/__init__.py": b'"""Only the shim of preserve (stdlib only)."""\n',
        }
        for path in sorted(SHIM_DIR.glob("*.py")):
            members[f"preserve/shim/{path.name}"] = path.read_bytes()
        for name in SHARED:  # the one redaction policy travels with the shim
            members[f"preserve/{name}"] = (SHIM_DIR.parent / name).read_bytes()
        for name, data in sorted(members.items()):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def probe(image: str, label: str) -> Probe:
    """The base image's ``python3`` and configuration; BuildError when the shim cannot run."""
    from docker.errors import APIError, ContainerError, ImageNotFound, NotFound

    client = docker_client()
    name = f"preserve-probe-{uuid.uuid4().hex[:12]}"
    try:
        attrs = client.api.inspect_image(image)
        out = client.containers.run(
            image,
            ["-I", "-S", "-c", _PROBE],
            entrypoint=["python3"],
            name=name,
            network_mode="none",
            remove=True,
            stderr=True,
        )
    except ImageNotFound as exc:
        raise BuildError(f"the image of {label} is not in the Docker Engine") from exc
    except (ContainerError, APIError) as exc:
        raise _unusable(label, f"python3 does not run in it ({_why(exc)})") from exc
    finally:  # a container that could not start is not removed by run(remove=True)
        with contextlib.suppress(NotFound, APIError):
            client.containers.get(name).remove(force=True)
    try:
        found = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise _unusable(label, "python3 printed no answer to the probe") from exc
    version = tuple(int(v) for v in found["python"])
    if version < (3, 8):
        raise _unusable(label, f"its python3 is {'.'.join(map(str, version))}, older than 3.8")
    if found["missing"]:
        raise _unusable(
            label,
            f"its python3 lacks standard modules the shim needs: {', '.join(found['missing'])}",
        )
    config = attrs.get("Config") or {}
    return Probe(
        python=found["executable"],
        version=version,
        env=list(config.get("Env") or []),
        workdir=config.get("WorkingDir") or None,
        user=config.get("User") or None,
    )


def _why(exc: Exception) -> str:
    text = str(getattr(exc, "explanation", None) or exc)
    if "executable file not found" in text or "no such file" in text.lower():
        return "the image has no python3 on its PATH"
    return text.strip().splitlines()[-1][:200] if text.strip() else type(exc).__name__


def _unusable(label: str, why: str) -> BuildError:
    return BuildError(
        f"cannot deploy {label}: the shim cannot run in its image: {why}",
        hint="functions run a small stdlib-only Python program beside the analysis; "
        "publish the analysis with an image that has python3 (>= 3.8) on its PATH",
    )


def build(definition: Definition, settings: Settings, progress: Progress) -> FunctionImage:
    """The function image of ``definition`` (built once per content), probed and checked."""
    spec = definition.spec
    label = spec["function"]
    # Function images are built by the Docker Engine: the base goes there, by its digest.
    base_id = fetch_image(definition.plan, settings, open_runner(settings, "docker"), progress)
    progress.step(f"probing the image of {label} for a python3 the shim can run in")
    found = probe(base_id, label)
    spec = {**spec, "image_env": found.env, "image_workdir": found.workdir}
    shim = zipapp()
    context_files = dict(_context(spec, definition.files, shim, found.python, base_id))
    key = hashlib.sha256()
    for name, (data, _mode) in sorted(context_files.items()):
        key.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    key.update(str(settings.data_dir.resolve()).encode())  # one image per home: see undeploy
    tag = f"{REPOSITORY}/{spec['name']}:{key.hexdigest()[:16]}"
    image_id = _existing(tag) or _build(context_files, tag, progress, label)
    _self_check(image_id, found.python, label)
    digest = spec["image"]["digest"]
    return FunctionImage(
        name=spec["name"],
        function=label,
        image_id=image_id,
        base_image_id=base_id,
        base_image_digest=digest,
        spec=spec,
        local_tag=tag,
    )


def _context(
    spec: Mapping[str, Any], files: Mapping[str, Path], shim: bytes, python: str, base: str
) -> Iterator[tuple[str, tuple[bytes, int]]]:
    labels = {
        "org.preserve.function": spec["function"],
        "org.preserve.function.name": spec["name"],
        "org.preserve.shim.version": SHIM_VERSION,
        "org.opencontainers.image.base.name": spec["image"]["reference"] or base,
        "org.opencontainers.image.base.digest": spec["image"]["digest"] or base,
    }
    dockerfile = "\n".join(
        [
            f"FROM {base}",
            "COPY opt/ /opt/",
            "COPY root/ /",
            *(f"LABEL {k}={json.dumps(v)}" for k, v in sorted(labels.items())),
            f'ENTRYPOINT ["{python}", "-I", "-S", "{HOME}/shim.pyz"]',
            'CMD ["serve"]',
            "",
        ]
    )
    yield "Dockerfile", (dockerfile.encode(), 0o644)
    yield "opt/preserve-shim/shim.pyz", (shim, 0o644)
    function = json.dumps(spec, indent=2, sort_keys=True).encode()
    yield "opt/preserve-shim/function/function.json", (function, 0o644)
    for crate_path, source in sorted(files.items()):
        yield f"opt/preserve-shim/function/files/{crate_path}", (source.read_bytes(), 0o444)


def _tar(files: Mapping[str, tuple[bytes, int]]) -> io.BytesIO:
    """The build context: files, and ``/preserve`` as a folder anyone may write (1777)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        folder = tarfile.TarInfo("root/preserve")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o1777
        tar.addfile(folder)
        for name, (data, mode) in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def _existing(tag: str) -> str | None:
    from docker.errors import ImageNotFound

    try:
        image_id: str = docker_client().api.inspect_image(tag)["Id"]
    except ImageNotFound:
        return None
    return image_id


def _build(files: Mapping[str, tuple[bytes, int]], tag: str, progress: Progress, label: str) -> str:
    from docker.errors import APIError

    progress.step(f"building the function image {tag} (the shim layer only)")
    try:
        for line in docker_client().api.build(
            fileobj=_tar(files),
            custom_context=True,
            tag=tag,
            rm=True,
            forcerm=True,
            network_mode="none",
            decode=True,
        ):
            if "error" in line:
                raise BuildError(
                    f"building the function image of {label} failed: {line['error'].strip()}"
                )
    except APIError as exc:
        raise BuildError(f"the Docker Engine refused the function image of {label}: {exc}") from exc
    image_id = _existing(tag)
    if image_id is None:
        raise BuildError(f"the Docker Engine built no image {tag} for {label}")
    return image_id


def _self_check(image_id: str, python: str, label: str) -> None:
    """Run the shim's own probe in the function image: the zipapp imports in that Python."""
    from docker.errors import APIError, ContainerError

    try:
        docker_client().containers.run(
            image_id,
            ["probe"],
            network_mode="none",
            remove=True,
            stderr=True,
        )
    except (ContainerError, APIError) as exc:
        raise _unusable(label, f"the shim does not start with {python}: {_why(exc)}") from exc


def forget_pushed(image_id: str | None, name: str, repository: str) -> None:
    """The host's copy of a function image built only to be pushed (the platform pulls it
    from the registry, which keeps it): its tags for the function ``name`` (the build's,
    and ``repository``'s tags and digests), then the image unless something else names
    or uses it. Nothing of another function is touched."""
    from docker.errors import APIError, ImageNotFound

    client = docker_client()
    try:
        image = client.images.get(image_id) if image_id else None
    except ImageNotFound:
        return
    if image is None:
        return
    mine = (f"{REPOSITORY}/{name}:", f"{repository}:", f"{repository}@")
    known = [*image.tags, *(image.attrs.get("RepoDigests") or [])]
    names = [n for n in known if n.startswith(mine)]
    for ref in [*names, image.id]:
        try:
            client.images.remove(ref)
        except ImageNotFound:
            pass  # went with an earlier name
        except APIError as exc:
            if exc.status_code != 409:  # 409: still named by another, or used by a container
                raise
