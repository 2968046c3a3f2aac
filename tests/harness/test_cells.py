from harness.cells import CellKey, CellRecord, CellStore


def test_store_roundtrip_and_failures(tmp_path):
    store = CellStore(tmp_path)
    key = CellKey("builtin", "pushpins", "cut paste/x", "seg", 0, "abc")
    assert not store.done(key)
    store.save_failure(key, "boom")
    assert store.failures()[0]["error"] == "boom" and not store.done(key)
    store.save(CellRecord(key, {"image_auroc": 0.5}, n_generated=3))
    assert store.done(key) and store.failures() == []
    (rec,) = store.records()
    assert rec.key == key and rec.metrics == {"image_auroc": 0.5}
    assert "/" not in key.slug and " " not in key.slug
    assert not list(tmp_path.rglob("*.tmp"))
