"""What can be checked of the container and Kubernetes files without a
Docker engine or a cluster: the entrypoint's argument handling under sh
(with a stand-in stashd), the image's Dockerfile settings, and the
manifests' structure (non-root, read-only root, no capabilities, probes,
memory limit above -m, grace period above the drain timeout).

python3-yaml is a dependency of the Debian tooling used here; the chart's
templates are checked as text (Helm is not packaged for Debian).
"""

import os
import pathlib
import re
import stat
import subprocess
import tempfile

import pytest

yaml = pytest.importorskip("yaml")

REPO = pathlib.Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"


def run_entrypoint(*args):
    d = tempfile.mkdtemp(prefix="stashd-ep-")
    fake = pathlib.Path(d) / "stashd"
    fake.write_text('#!/bin/sh\necho "stashd $*"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, PATH=f"{d}:/usr/bin:/bin")
    out = subprocess.run(["sh", str(DOCKER / "docker-entrypoint.sh"), *args], env=env,
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_entrypoint_prepends_stashd_for_flags():
    # flags: stashd with the image's settings first, which flags override
    conf = "stashd --config /etc/stashd/stashd.yaml"
    assert run_entrypoint("-m", "64") == f"{conf} -m 64"
    assert run_entrypoint("-l", "10.0.0.1", "-m", "8") == f"{conf} -l 10.0.0.1 -m 8"
    assert run_entrypoint("--listen=::", "-v") == f"{conf} --listen=:: -v"
    # a config of one's own replaces the image's (--config twice is refused)
    assert run_entrypoint("--config", "/my.yaml") == "stashd --config /my.yaml"
    assert run_entrypoint("-v", "--config=/my.yaml") == "stashd -v --config=/my.yaml"
    assert run_entrypoint("stashd", "-v") == "stashd -v"
    assert run_entrypoint("echo", "hello") == "hello"


def test_dockerfile():
    # tests/image/run builds and runs the image; this checks the text only
    text = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE=debian:12-slim$", text, re.M)
    assert re.search(r"^FROM \$\{BASE\} AS build$", text, re.M)
    assert re.search(r"^FROM \$\{BASE\}$", text, re.M)
    assert re.search(r"^USER 11211:11211$", text, re.M), "must run as non-root"
    assert re.search(r"^EXPOSE 11211 6379", text, re.M)
    assert "HEALTHCHECK" in text and "--healthcheck" in text
    assert 'ENTRYPOINT ["docker-entrypoint.sh"]' in text
    assert 'CMD ["stashd", "--config", "/etc/stashd/stashd.yaml"]' in text


def test_image_config():
    """The image's settings are keys of the example config (every option)."""
    image = yaml.safe_load((DOCKER / "stashd.yaml").read_text())
    every = yaml.safe_load((REPO / "conf" / "stashd.yaml").read_text())
    assert set(image) <= set(every), set(image) - set(every)
    assert image["listen"] == ["0.0.0.0"] and image["resp_port"] == 6379


def containers(doc):
    spec = doc["spec"]["template"]["spec"]
    return spec, spec.get("initContainers", []) + spec.get("containers", [])


def mib(q):
    m = re.fullmatch(r"(\d+)Mi", q)
    assert m, q
    return int(m.group(1))


def arg_after(args, flag):
    return args[args.index(flag) + 1]


@pytest.mark.parametrize("name", ["deployment.yaml", "sidecar.yaml"])
def test_manifests(name):
    docs = [d for d in yaml.safe_load_all((DOCKER / "k8s" / name).read_text()) if d]
    deploys = [d for d in docs if d["kind"] == "Deployment"]
    assert deploys
    for d in deploys:
        spec, cs = containers(d)
        assert spec["securityContext"]["runAsNonRoot"] is True
        cache = [c for c in cs if c["image"].startswith("stashd")]
        assert len(cache) == 1
        c = cache[0]
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        args = c["args"]
        m = int(arg_after(args, "-m"))
        limit = mib(c["resources"]["limits"]["memory"])
        assert limit >= m + m // 8 + 32, "memory limit leaves no room beyond -m"
        drain = int(arg_after(args, "--drain-timeout"))
        assert spec["terminationGracePeriodSeconds"] > drain
        assert "livenessProbe" in c
        if name == "sidecar.yaml":
            assert c in spec["initContainers"] and c["restartPolicy"] == "Always"
            assert arg_after(args, "-l") == "127.0.0.1"
        else:
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert arg_after(args, "--admin-listen") == "0.0.0.0"


def test_helm_chart():
    chart = yaml.safe_load((DOCKER / "helm/stashd/Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "stashd"
    values = yaml.safe_load((DOCKER / "helm/stashd/values.yaml").read_text())
    tpl = (DOCKER / "helm/stashd/templates/deployment.yaml").read_text()
    for key in re.findall(r"\.Values\.([A-Za-z.]+)", tpl):
        node = values
        for part in key.split("."):
            assert part in node, f"template uses .Values.{key}, not in values.yaml"
            node = node[part]
    assert "runAsNonRoot: true" in tpl and "readOnlyRootFilesystem: true" in tpl
    assert "/readyz" in tpl and "stashd.memLimit" in tpl


def test_sidecar_warm_restart_opt_in():
    """The sidecar's warm restart block, its "#warm " lines uncommented:
    -e puts the file on a memory-backed emptyDir that holds -m."""
    text = (DOCKER / "k8s" / "sidecar.yaml").read_text()
    assert "#warm " in text
    plain = yaml.safe_load(text)
    spec, cs = containers(plain)
    assert "-e" not in cs[0]["args"] and "volumes" not in spec, "opt-in: off as shipped"
    on = yaml.safe_load(re.sub(r"^(\s*)#warm ", r"\1", text, flags=re.M))
    spec, cs = containers(on)
    c = [c for c in cs if c["image"].startswith("stashd")][0]
    args = c["args"]
    path = arg_after(args, "-e")
    [mount] = c["volumeMounts"]
    assert path.startswith(mount["mountPath"].rstrip("/") + "/")
    [vol] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    assert vol["emptyDir"]["medium"] == "Memory"
    assert mib(vol["emptyDir"]["sizeLimit"]) >= int(arg_after(args, "-m"))
    # the rest as without it
    assert args[: args.index("-e")] == containers(plain)[1][0]["args"]


def test_helm_warm_restart_opt_in():
    values = yaml.safe_load((DOCKER / "helm/stashd/values.yaml").read_text())
    assert values["warmRestart"]["enabled"] is False
    tpl = (DOCKER / "helm/stashd/templates/deployment.yaml").read_text()
    # -e, the mount and the memory-backed volume only when enabled
    blocks = re.findall(r"\{\{- if \.Values\.warmRestart\.enabled \}\}(.*?)\{\{- end \}\}", tpl,
                        re.S)
    assert len(blocks) == 2
    assert '"-e"' in blocks[0] and '"/var/lib/stashd/items"' in blocks[0]
    assert "mountPath: /var/lib/stashd" in blocks[1] and "medium: Memory" in blocks[1]
    assert "add .Values.memoryMiB .Values.warmRestart.sizeSlackMiB" in blocks[1]
    outside = re.sub(r"\{\{- if \.Values\.warmRestart\.enabled \}\}.*?\{\{- end \}\}", "", tpl,
                     flags=re.S)
    assert "-e" not in re.findall(r'- "(-\w)"', outside) and "emptyDir" not in outside
