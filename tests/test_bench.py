"""`python -m ai3 bench`: the benchmark CLI measures what it says and writes its outputs."""

import json

import pytest

pytest.importorskip("torchvision")

from ai3.__main__ import main  # noqa: E402


def test_bench_cli_layers_and_whole_model(tmp_path, capsys):
    out_json, out_png = tmp_path / "r.json", tmp_path / "r.png"
    rc = main(["bench", "--models", "alexnet", "--size", "64", "--algorithms", "direct", "guess",
               "--repeats", "1", "--no-progress", "--json", str(out_json), "--plot", str(out_png)])
    assert rc == 0
    r = json.loads(out_json.read_text())
    assert r["machine"]["isa"] and r["threads"] >= 1
    (panel,) = r["layers"]
    assert [row["weight"][0] for row in panel["rows"]] == [64, 192, 384, 256, 256]  # alexnet's five convs
    for row in panel["rows"]:
        for algo in ("direct", "guess"):
            cell = row["algorithms"][algo]
            assert cell["rel_error"] < 1e-4, (row["desc"], algo)
            assert cell["torch_s"] > 0 and cell["ai3_s"] > 0
            assert cell["speedup"] == pytest.approx(cell["torch_s"] / cell["ai3_s"])
        assert row["algorithms"]["direct"]["resolved"] == "direct"
        assert row["algorithms"]["guess"]["resolved"] != "guess"  # guess names what it picked
    modes = {w["mode"]: w for w in r["whole"]}
    assert set(modes) == {"swap_backend", "swap_conv2d"}
    for w in modes.values():
        assert "error" not in w, w
        assert w["rel_error"] < 1e-4
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = capsys.readouterr().out
    assert "geomean" in text and "torch time / ai3 time" in text


def test_bench_reports_an_algorithm_that_refuses(tmp_path):
    # winograd refuses alexnet's 11x11 stride-4 first layer: a row says so instead of failing the run.
    out_json = tmp_path / "r.json"
    main(["bench", "--models", "alexnet", "--size", "64", "--layers", "--algorithms", "winograd",
          "--repeats", "1", "--no-progress", "--json", str(out_json)])
    rows = json.loads(out_json.read_text())["layers"][0]["rows"]
    assert "error" in rows[0]["algorithms"]["winograd"]
    assert rows[2]["algorithms"]["winograd"]["rel_error"] < 1e-4


def test_bench_rejects_unknown_device(capsys):
    with pytest.raises(Exception, match="device"):
        main(["bench", "--models", "alexnet", "--size", "64", "--devices", "no-such-device", "--no-progress"])


@pytest.mark.parametrize("peer", ["onnxruntime", "openvino"])
def test_bench_times_a_peer_against_swap_backend(peer, tmp_path):
    pytest.importorskip(peer)
    out_json = tmp_path / "r.json"
    main(["bench", "--models", "alexnet", "--size", "64", "--whole", "--peers", peer, "--repeats", "1",
          "--no-progress", "--json", str(out_json)])
    modes = {w["mode"]: w for w in json.loads(out_json.read_text())["whole"]}
    assert set(modes) == {"swap_backend", "swap_conv2d", peer}
    w = modes[peer]
    assert "error" not in w, w
    assert w["rel_error"] < 1e-4  # the peer ran the same network
    assert w["speedup"] == pytest.approx(w["peer_s"] / w["ai3_s"])
