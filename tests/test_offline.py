"""The offline guard (tests/offline/) is on in every Python process the tests start, and never lets
a packet or a DNS query past it.

No test here can send anything even if the guard were broken: the probes check first that
`socket.socket.connect` is the guard, then swap the guard's saved real functions (`_real`) for
tripwires that only record, and only then try non-local addresses. A broken guard shows up as a
recorded call or a missing "blocked", never as traffic.
"""
import json
import os
import socket
import subprocess
import sys
import types
from pathlib import Path

import pytest

import gptedu_offline as guard
from tests.conftest import NetworkBlocked
from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
OFFLINE_DIR = ROOT / "tests" / "offline"

# Runs in the process under test; prints "PROBE {json}". Reaches no real socket function.
PROBE = r'''
import json, socket, sys
seen = {"installed": False}
guard = sys.modules.get("gptedu_offline")
if guard is not None and getattr(socket.socket.connect, guard.MARK, False):
    seen["installed"] = True
    seen["passed"] = passed = []
    def tripwire(name):
        def real(*args, **kwargs):
            passed.append(name)
            return 0
        return real
    for name in list(guard._real):
        guard._real[name] = tripwire(name)
    def attempt(call):
        try:
            call()
            return "allowed"
        except guard.NetworkBlocked:
            return "blocked"
    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        seen["connect 192.0.2.1"] = attempt(lambda: tcp.connect(("192.0.2.1", 80)))
        seen["connect_ex 10.255.255.1"] = attempt(lambda: tcp.connect_ex(("10.255.255.1", 80)))
        seen["sendto 192.0.2.1"] = attempt(lambda: udp.sendto(b"?", ("192.0.2.1", 53)))
        seen["getaddrinfo example.com"] = attempt(lambda: socket.getaddrinfo("example.com", 443))
        seen["connect 127.0.0.1"] = attempt(lambda: tcp.connect(("127.0.0.1", 9)))
print("PROBE " + json.dumps(seen), flush=True)
'''

GUARDED = {"installed": True, "connect 192.0.2.1": "blocked", "connect_ex 10.255.255.1": "blocked",
           "sendto 192.0.2.1": "blocked", "getaddrinfo example.com": "blocked",
           "connect 127.0.0.1": "allowed", "passed": ["connect"]}  # only the loopback connect got through


def probe_result(output: str) -> dict:
    lines = [line for line in output.splitlines() if line.startswith("PROBE ")]
    assert len(lines) == 1, output
    return json.loads(lines[0][len("PROBE "):])


def run_probe(env: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return probe_result(proc.stdout)


def without_guard(env) -> dict:
    env = {key: value for key, value in env.items() if key != guard.ENV_VAR}
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p) != OFFLINE_DIR]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


# --- the guard's decisions, in this process, with the real functions swapped for recorders ---

@pytest.fixture
def reached(monkeypatch):
    """Names of the real socket functions the guard let a call through to (none really runs)."""
    assert guard.installed() and socket.socket.connect.__module__ == "gptedu_offline"
    calls = []
    for name in list(guard._real):
        monkeypatch.setitem(guard._real, name, lambda *args, _name=name, **kwargs: calls.append(_name))
    return calls


def fake_socket(family):
    return types.SimpleNamespace(family=family)


@pytest.mark.parametrize("family, address", [
    (socket.AF_INET, ("192.0.2.1", 80)), (socket.AF_INET, ("10.255.255.1", 443)),
    (socket.AF_INET, ("pypi.org", 443)), (socket.AF_INET6, ("2001:db8::1", 80, 0, 0)),
    (socket.AF_INET6, ("::ffff:192.0.2.1", 80, 0, 0))])
def test_every_sending_call_to_another_machine_is_blocked(reached, family, address):
    sock = fake_socket(family)
    calls = [lambda: socket.socket.connect(sock, address), lambda: socket.socket.connect_ex(sock, address),
             lambda: socket.socket.sendto(sock, b"?", address), lambda: socket.socket.sendto(sock, b"?", 0, address),
             lambda: socket.socket.sendmsg(sock, [b"?"], [], 0, address),
             lambda: socket.create_connection(address[:2], timeout=1)]
    for call in calls:
        with pytest.raises(NetworkBlocked):
            call()
    assert reached == []


@pytest.mark.parametrize("family, address", [
    (socket.AF_INET, ("127.0.0.1", 8888)), (socket.AF_INET, ("127.3.2.1", 1)), (socket.AF_INET, ("localhost", 1)),
    (socket.AF_INET, (socket.gethostname(), 1)), (socket.AF_INET, ("0.0.0.0", 1)),
    (socket.AF_INET6, ("::1", 1, 0, 0)), (socket.AF_INET6, ("::ffff:127.0.0.1", 1, 0, 0)),
    (socket.AF_UNIX, "/tmp/some.sock"), (socket.AF_UNIX, b"\0abstract")])
def test_loopback_and_unix_sockets_pass_through(reached, family, address):
    sock = fake_socket(family)
    socket.socket.connect(sock, address)
    socket.socket.connect_ex(sock, address)
    socket.socket.sendto(sock, b"?", address)
    socket.socket.sendmsg(sock, [b"?"], [], 0, address)
    socket.socket.sendmsg(sock, [b"?"])  # a connected socket: the connect was checked
    assert reached == ["connect", "connect_ex", "sendto", "sendmsg", "sendmsg"]


@pytest.mark.parametrize("host", ["example.com", "pypi.org", "huggingface.co", "10.255.255.1", "192.0.2.1", "::2"])
def test_name_lookups_of_other_hosts_are_blocked_without_a_dns_query(reached, host):
    for lookup in (lambda: socket.getaddrinfo(host, 443), lambda: socket.getaddrinfo(host=host, port=443),
                   lambda: socket.gethostbyname(host), lambda: socket.gethostbyname_ex(host),
                   lambda: socket.gethostbyaddr(host), lambda: socket.getnameinfo((host, 80), 0)):
        with pytest.raises(NetworkBlocked):
            lookup()
    assert reached == []


@pytest.mark.parametrize("host", [None, "", "localhost", "LOCALHOST", "127.0.0.1", "::1", socket.gethostname()])
def test_name_lookups_of_this_machine_pass_through(reached, host):
    socket.getaddrinfo(host, 80)
    socket.gethostbyname(host)
    assert reached == ["getaddrinfo", "gethostbyname"]


def test_install_twice_keeps_one_layer():
    wrapper = socket.socket.connect
    guard.install()
    assert socket.socket.connect is wrapper and not getattr(guard._real["connect"], guard.MARK, False)


# --- every kind of process the tests start ---

def test_a_fresh_python_with_the_test_environment_is_guarded():
    assert run_probe(dict(os.environ)) == GUARDED


def test_course_py_test_environment_alone_turns_the_guard_on():
    course = load_script("course.py", "course_for_offline_test")
    clean = without_guard(os.environ)
    assert run_probe(clean) == {"installed": False}  # learners' own runs: untouched
    assert run_probe(course.offline_env(clean)) == GUARDED


def test_a_shadowed_sitecustomize_still_runs(tmp_path):
    (tmp_path / "sitecustomize.py").write_text("import builtins\nbuiltins.GPTEDU_CHAINED = __file__\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(OFFLINE_DIR), str(tmp_path)])}
    code = "import builtins, socket; print(builtins.GPTEDU_CHAINED, socket.socket.connect.__module__)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == [str(tmp_path / "sitecustomize.py"), "gptedu_offline"], out.stderr


def test_a_notebook_kernel_started_the_way_nbval_does_is_guarded():
    from nbval.kernel import RunningKernel

    kernel = RunningKernel("python3", cwd=str(ROOT))  # nbval's own class; the notebooks' kernel name
    try:
        output = []
        kernel.kc.execute_interactive(PROBE, timeout=60, output_hook=lambda msg: output.append(
            msg["content"].get("text", "") if msg["msg_type"] == "stream" else ""))
    finally:
        kernel.stop()
    assert probe_result("".join(output)) == GUARDED


def test_a_torchrun_worker_is_guarded(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1", str(script)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert probe_result(proc.stdout) == GUARDED
