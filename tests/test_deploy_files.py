"""deploy/ can't be built or started here (no Docker engine), so these tests check that the
deploy files agree with the code they run: every variable they set is a real setting, the
compose wiring matches how local-mode Telegram passes files, the image installs what the Makefile
installs, the health check hits the ops port, and the stop timeouts outlast the bot's grace."""

from __future__ import annotations

import configparser
import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bots.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SETTING_NAMES = {name.upper() for name in Settings.model_fields}
STOP_GRACE_DEFAULT = Settings.model_fields["aiwm_stop_grace"].default
BOT_API_IMAGE = "aiogram/telegram-bot-api"
BOT_API_DEFAULT_PORT = 8081  # the image's --http-port unless TELEGRAM_HTTP_PORT is set
# Variables the image sets for Python and pip themselves, not for the bot.
RUNTIME_VARIABLES = {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PIP_NO_CACHE_DIR", "PIP_DISABLE_PIP_VERSION_CHECK"}


# --- parsing helpers ----------------------------------------------------------------------------

def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined: list[str] = []
    pending = ""
    for raw in (DEPLOY / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    assert not pending, "a continuation line runs off the end of the Dockerfile"
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in joined]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, args in dockerfile_instructions():
        if instruction == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def dockerfile_json_args(instruction_name: str) -> list[str]:
    found = [args for instruction, args in dockerfile_instructions() if instruction == instruction_name]
    assert len(found) == 1, f"expected one {instruction_name}"
    return json.loads(found[0])


def copy_sources() -> list[str]:
    """Every path the Dockerfile COPYs from the build context (the last argument is the target)."""
    sources: list[str] = []
    for instruction, args in dockerfile_instructions():
        if instruction == "COPY":
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            sources += words[:-1]
    return sources


def load_yaml(path: Path):
    """compose.yaml as data. PyYAML is not a dependency of the project: use it from the venv if
    it is there, else from the system Python (Debian's python3-yaml), else skip."""
    try:
        import yaml  # type: ignore[import-not-found]
    except ImportError:
        system_python = shutil.which("python3", path="/usr/bin:/usr/local/bin")
        if system_python is None:
            pytest.skip("no YAML parser available (PyYAML is not a project dependency)")
        probe = subprocess.run([system_python, "-c", "import json, sys, yaml; "
                                "json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)", str(path)],
                               capture_output=True, text=True, timeout=30)
        if probe.returncode != 0:
            pytest.skip("no YAML parser available (PyYAML is not a project dependency)")
        return json.loads(probe.stdout)
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(DEPLOY / "compose.yaml")


def bot_api_service(compose: dict) -> tuple[str, dict]:
    matches = [(name, service) for name, service in compose["services"].items()
               if str(service.get("image", "")).split(":")[0] == BOT_API_IMAGE]
    assert len(matches) == 1, "compose needs exactly one Telegram Bot API service"
    return matches[0]


def environment_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the "KEY=value" list form
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def mounts_of(service: dict) -> dict[str, str]:
    """container path -> volume name, for named-volume mounts (short syntax)."""
    mounts = {}
    for spec in service.get("volumes", []):
        source, target = spec.split(":")[:2]
        mounts[target] = source
    return mounts


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", str(duration).strip())
    assert match, f"unreadable duration {duration!r}"
    return float(match.group(1)) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[match.group(2)]


def systemd_unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    unit.optionxform = str  # keys are case-sensitive in systemd
    unit.read(DEPLOY / "aiwm.service")
    return unit


# --- compose ------------------------------------------------------------------------------------

def test_the_bot_talks_to_the_bot_api_service_by_its_compose_name_and_port(compose: dict) -> None:
    api_name, api = bot_api_service(compose)
    bot = compose["services"]["bot"]
    env = environment_of(bot)
    api_port = int(environment_of(api).get("TELEGRAM_HTTP_PORT", BOT_API_DEFAULT_PORT))
    for key in ("TELEGRAM_API_URL", "TELEGRAM_FILE_URL"):
        url = urlsplit(env[key])
        assert (url.hostname, url.port) == (api_name, api_port), key
    assert environment_of(api).get("TELEGRAM_LOCAL"), "the Bot API must run with --local for big files"
    depends = bot.get("depends_on", [])
    assert api_name in (depends if isinstance(depends, list) else list(depends))


def env_example() -> dict[str, str]:
    """The variables a .env copied from .env.example sets (commented lines set nothing)."""
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def test_the_bot_in_compose_runs_with_the_settings_the_wiring_needs(compose: dict, monkeypatch) -> None:
    """Compose's precedence: image ENV < env_file (here: a copy of .env.example) < environment."""
    bot = compose["services"]["bot"]
    env = environment_of(bot)
    for key, value in {**dockerfile_env(), **env_example(), **env}.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    assert settings.telegram_local_mode is True
    assert settings.telegram_api_url == env["TELEGRAM_API_URL"]
    assert settings.telegram_file_url == env["TELEGRAM_FILE_URL"]
    # State on the volume, and the ops endpoints where the health check and the published port look.
    assert str(settings.aiwm_data_dir) in mounts_of(bot)
    assert settings.aiwm_ops_host == "0.0.0.0"
    published = {spec.rsplit(":", 1)[1] for spec in bot.get("ports", [])}
    assert str(settings.aiwm_ops_port) in published
    assert str(settings.aiwm_ops_port) == dockerfile_env()["AIWM_OPS_PORT"]


def test_local_mode_file_paths_mean_the_same_thing_in_both_containers(compose: dict) -> None:
    _, api = bot_api_service(compose)
    bot_mounts, api_mounts = mounts_of(compose["services"]["bot"]), mounts_of(api)
    declared = set(compose.get("volumes") or {})
    # Clips the Bot API server downloads, which the bot then opens by path.
    api_work_dir = "/var/lib/telegram-bot-api"
    assert api_work_dir in api_mounts and bot_mounts.get(api_work_dir) == api_mounts[api_work_dir]
    # Finished videos the bot sends by path: they live under the data dir (work/ inside it).
    data_dir = dockerfile_env()["AIWM_DATA_DIR"]
    assert data_dir in bot_mounts and api_mounts.get(data_dir) == bot_mounts[data_dir]
    assert set(bot_mounts.values()) | set(api_mounts.values()) <= declared


def test_every_variable_the_bot_service_sets_is_a_real_setting(compose: dict) -> None:
    unknown = set(environment_of(compose["services"]["bot"])) - SETTING_NAMES
    assert not unknown, f"compose sets variables the bot never reads: {sorted(unknown)}"


def test_the_bot_service_builds_this_repo_with_the_deploy_dockerfile(compose: dict) -> None:
    bot = compose["services"]["bot"]
    context = (DEPLOY / bot["build"]["context"]).resolve()
    assert context == ROOT
    assert (context / bot["build"]["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    env_files = bot["env_file"] if isinstance(bot["env_file"], list) else [bot["env_file"]]
    assert [(DEPLOY / f).resolve() for f in env_files] == [ROOT / ".env"]  # the file .env.example documents


def test_compose_gives_the_bot_longer_than_its_grace_to_stop(compose: dict) -> None:
    bot = compose["services"]["bot"]
    assert seconds(bot["stop_grace_period"]) > STOP_GRACE_DEFAULT
    assert bot["restart"] == "unless-stopped"


def test_compose_publishes_the_ops_port_on_loopback_only(compose: dict) -> None:
    ops_port = dockerfile_env()["AIWM_OPS_PORT"]
    published = [spec.rsplit(":", 2) for spec in compose["services"]["bot"].get("ports", [])]
    assert [host_ip for host_ip, _, container in published if container == ops_port] == ["127.0.0.1"]


# --- Dockerfile ---------------------------------------------------------------------------------

def test_every_variable_the_image_sets_is_a_real_setting() -> None:
    unknown = set(dockerfile_env()) - SETTING_NAMES - RUNTIME_VARIABLES
    assert not unknown, f"the Dockerfile sets variables the bot never reads: {sorted(unknown)}"


def test_the_image_installs_every_system_package_the_makefile_installs() -> None:
    makefile = (ROOT / "Makefile").read_text()
    wanted = set(re.search(r"^APT_PACKAGES\s*:=\s*(.+)$", makefile, re.M).group(1).split())
    installed: set[str] = set()
    for instruction, args in dockerfile_instructions():
        if instruction == "RUN" and "apt-get install" in args:
            for command in args.split("&&"):
                words = shlex.split(command)
                if "install" in words and "apt-get" in words:
                    installed |= {w for w in words[words.index("install") + 1:] if not w.startswith("-")}
    assert wanted and wanted <= installed, f"missing from the image: {sorted(wanted - installed)}"


def test_the_image_copies_every_package_pyproject_ships() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {pattern.rstrip("*") for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    sources = set(copy_sources())
    assert packages <= sources, f"not copied: {sorted(packages - sources)}"
    assert {"pyproject.toml", pyproject["project"]["readme"]} <= sources  # setuptools needs both to build


def test_the_image_runs_aiwm_run_as_a_non_root_user_with_data_on_a_volume() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim-bookworm")
    assert dockerfile_json_args("CMD") == ["aiwm", "run"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "aiwm" in scripts
    users = [args for instruction, args in instructions if instruction == "USER"]
    assert users and users[-1] not in ("root", "0")
    volumes = [args for instruction, args in instructions if instruction == "VOLUME"]
    assert dockerfile_env()["AIWM_DATA_DIR"] in " ".join(volumes).split()
    assert ("STOPSIGNAL", "SIGTERM") in instructions


def healthcheck_command() -> list[str]:
    args = next(args for instruction, args in dockerfile_instructions() if instruction == "HEALTHCHECK")
    assert " CMD " in f" {args} "
    return json.loads(args.split("CMD", 1)[1].strip())


def test_the_healthcheck_probes_healthz_on_the_ops_port() -> None:
    env = dockerfile_env()
    command = healthcheck_command()
    url = urlsplit(re.search(r"https?://[^'\"]+", command[-1]).group(0))
    assert (url.hostname, url.port, url.path) == ("127.0.0.1", int(env["AIWM_OPS_PORT"]), "/healthz")
    exposed = [args for instruction, args in dockerfile_instructions() if instruction == "EXPOSE"]
    assert env["AIWM_OPS_PORT"] in " ".join(exposed).split()


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("status, healthy", [(200, True), (503, False)])
def test_the_healthcheck_command_fails_exactly_when_healthz_is_not_200(status: int, healthy: bool) -> None:
    """The image's exact HEALTHCHECK command, pointed at a loopback server answering like /healthz."""
    handler = type("Health", (_Health,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        command = healthcheck_command()
        port = dockerfile_env()["AIWM_OPS_PORT"]
        command[-1] = command[-1].replace(f":{port}/", f":{server.server_address[1]}/")
        assert command[0] == "python"
        result = subprocess.run([sys.executable, *command[1:]], capture_output=True, timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert (result.returncode == 0) is healthy


def test_dockerignore_keeps_state_and_secrets_out_but_lets_the_sources_in() -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def ignored(path: str) -> bool:
        return any(fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") or path == p for p in patterns)

    for private in (".env", ".venv", ".git", "data", "out", "bench/results"):
        assert ignored(private), private
    sources = copy_sources()
    assert sources
    for source in sources:
        assert not ignored(source), f"{source} is copied by the Dockerfile but .dockerignore drops it"


# --- systemd ------------------------------------------------------------------------------------

def test_systemd_waits_longer_than_the_bots_grace_and_matches_the_layout() -> None:
    service = systemd_unit()["Service"]
    assert seconds(service["TimeoutStopSec"]) > STOP_GRACE_DEFAULT
    assert service["KillSignal"] == "SIGTERM"
    makefile_venv = re.search(r"^VENV\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert service["ExecStart"] == f"{service['WorkingDirectory']}/{makefile_venv}/bin/aiwm run"
    assert service["Environment"] == f"AIWM_DATA_DIR=/var/lib/{service['StateDirectory']}"
    assert "AIWM_DATA_DIR" in SETTING_NAMES
    assert int(service["LimitNOFILE"]) > 2 * 1000  # two sockets per open turn (bench/load.py: 1,000 chats)


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # The unit points at /opt/aiwm, which does not exist here: point it at this checkout instead.
    aiwm = Path(sys.executable).with_name("aiwm")
    if not aiwm.exists():
        pytest.skip("the aiwm entry point is not installed in this environment")
    text = (DEPLOY / "aiwm.service").read_text()
    text = text.replace("/opt/aiwm/.venv/bin/aiwm", str(aiwm)).replace("WorkingDirectory=/opt/aiwm",
                                                                       f"WorkingDirectory={tmp_path}")
    unit = tmp_path / "aiwm.service"
    unit.write_text(text)
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if "aiwm.service" in line]
    assert not complaints, "\n".join(complaints)


# --- README -------------------------------------------------------------------------------------

def test_every_setting_the_deploying_section_names_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Deploying", 1)
    if len(section) == 1:
        pytest.fail("README.md has no Deploying section")
    body = section[1].split("\n## ", 1)[0]
    named = set(re.findall(r"\b(?:AIWM|TELEGRAM|NEMO|DISCORD)_[A-Z0-9_]*[A-Z0-9]\b", body))
    image_only = {"TELEGRAM_API_ID", "TELEGRAM_API_HASH", "TELEGRAM_LOCAL"}  # the Bot API image's own
    unknown = {name for name in named - image_only if not name.endswith("_") and name not in SETTING_NAMES
               and not any(s.startswith(name + "_") for s in SETTING_NAMES)}  # AIWM_LINK_* families
    assert named, "the Deploying section names no settings"
    assert not unknown, f"README names settings that don't exist: {sorted(unknown)}"
