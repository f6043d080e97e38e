#!/usr/bin/env python3
"""Drive a (simulated) CML controller with Cisco's own virl2-client, unchanged.

usage: virl2_smoke.py URL USER PASSWORD LAB_YAML

Exits non-zero on any failure. Run by TestVirl2ClientSmoke in
internal/cmlsim; it proves the simulator speaks the API the way Cisco's
client expects it.
"""
import sys
import traceback


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def main():
    url, user, password, lab_path = sys.argv[1:5]

    from virl2_client import ClientLibrary

    # Construction: GET system_information (no token), POST authenticate,
    # GET authok. raise_for_auth_failure makes a bad login fatal here.
    client = ClientLibrary(url, user, password, ssl_verify=False, raise_for_auth_failure=True)

    info = client.system_info()
    check(info.get("ready") is True, f"system not ready: {info}")
    check(info.get("version", "").startswith("2."), f"unexpected version: {info}")
    check(client.is_system_ready(), "is_system_ready() is False")

    before = client.get_lab_list()
    check(isinstance(before, list), f"get_lab_list: {before!r}")
    client.all_labs(show_all=True)

    # An empty lab made through the API, then removed.
    empty = client.create_lab(title="virl2-smoke-empty", description="made by virl2_smoke.py")
    check(empty.title == "virl2-smoke-empty", f"create_lab title: {empty.title!r}")
    check(empty.id in client.get_lab_list(), "created lab not listed")
    check(empty.state() == "DEFINED_ON_CORE", f"new lab state: {empty.state()}")

    # The sample lab imported from YAML and taken through its life cycle.
    with open(lab_path, encoding="utf-8") as f:
        topology = f.read()
    lab = client.import_lab(topology, title="virl2-smoke-import")
    check(lab.title == "virl2-smoke-import", f"imported title: {lab.title!r}")
    check(len(lab.nodes()) == 2, f"imported nodes: {lab.nodes()}")
    check(len(lab.links()) == 1, f"imported links: {lab.links()}")
    check(lab.state() == "DEFINED_ON_CORE", f"imported state: {lab.state()}")
    lab.sync(topology_only=False)  # statistics, layer 3 addresses, operational data

    lab.start()  # waits for convergence
    check(lab.state() == "STARTED", f"after start: {lab.state()}")
    check(lab.is_active(), "lab not active after start")
    check(all(n.is_booted() for n in lab.nodes()), "nodes not booted after start")
    details = lab.details()
    check(details["state"] == "STARTED", f"details: {details}")

    stats = client.get_system_stats()
    running = sum(c["stats"]["dominfo"]["running_nodes"] for c in stats["computes"].values())
    check(running == 2, f"system_stats running_nodes: {running}")
    health = client.get_system_health()
    check("computes" in health and "controller" in health, f"system_health: {health}")

    yaml_text = lab.download()
    check("nodes:" in yaml_text and "virl2-smoke-import" in yaml_text, "download is not the lab YAML")

    lab.stop()
    check(lab.state() == "STOPPED", f"after stop: {lab.state()}")
    lab.wipe()
    check(lab.state() == "DEFINED_ON_CORE", f"after wipe: {lab.state()}")
    lab_id, empty_id = lab.id, empty.id  # removed labs go stale: ids first
    lab.remove()
    client.remove_lab(empty_id)
    after = client.get_lab_list()
    check(lab_id not in after and empty_id not in after, f"labs not removed: {after}")

    # Licensing and definitions, read-only.
    status = client.licensing.status()
    check("registration" in status and "status" in status["registration"], f"licensing: {status}")
    check(status["transport"]["default_ssms"], "licensing transport.default_ssms missing")
    features = client.licensing.features()
    check(isinstance(features, list), f"licensing features: {features!r}")
    check(len(client.definitions.node_definitions()) > 0, "no node definitions")
    check(len(client.definitions.image_definitions()) > 0, "no image definitions")
    check(client.system_management.compute_hosts, "no compute hosts")
    client.user_management.users()
    client.get_diagnostics(client_diag_licensing())

    client.logout()
    print("virl2 smoke: OK")


def client_diag_licensing():
    from virl2_client.virl2_client import DiagnosticsCategory

    return DiagnosticsCategory.LICENSING


if __name__ == "__main__":
    try:
        main()
    except Exception:  # noqa: BLE001 - any failure fails the smoke test
        traceback.print_exc()
        sys.exit(1)
