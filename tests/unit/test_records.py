"""records.models: payload -> ModelRecord, the quarantine reasons, the metadata hash and the
child rows (relations, providers, files)."""

from __future__ import annotations

import copy
import json

import pytest

from hubdex.records.models import MODEL_COLUMNS, BadItem, ModelRecord, metrics_of, normalise


def item(**fields):
    base = {"id": "org/model", "_id": "64a0000000000000000000aa"}
    base.update(fields)
    return base


def test_minimal_item():
    r = normalise(item())
    assert isinstance(r, ModelRecord)
    assert (r.id, r.oid) == ("org/model", "64a0000000000000000000aa")
    assert len(r.values) == len(MODEL_COLUMNS)
    row = r.row
    assert row["id"] == "org/model" and row["oid"] == r.oid
    assert row["author"] == "org"  # from the id when the payload has no author
    assert row["license"] is None and row["pipeline_tag"] is None and row["base_model_relation"] is None
    assert row["spaces_count"] is None and row["providers_count"] is None
    assert r.metrics == (None, None, None, None)
    assert r.tags == r.files == r.relations == r.spaces == r.providers == []
    assert (r.has_files, r.has_spaces, r.has_providers) == (False, False, False)
    assert isinstance(row["meta_hash"], str) and len(row["meta_hash"]) == 24


def test_fields_land_in_their_columns():
    r = normalise(item(author="someone", sha="abc", lastModified="2026-01-02T03:04:05.000Z",
                       pipeline_tag="text-generation", library_name="transformers", private=False,
                       gated="manual", usedStorage=1234, tags=["license:mit", "a", "a"],
                       downloads=10, downloadsAllTime=100, likes=3, trendingScore=7,
                       safetensors={"total": 7_000_000}, spaces=["s/one", "s/one", "s/two"],
                       childrenModelCount={"finetune": 2, "adapter": 1}))
    row = r.row
    assert row["author"] == "someone" and row["sha"] == "abc"
    assert row["last_modified"] == "2026-01-02T03:04:05.000Z"
    assert row["license"] == "mit" and row["gated"] == "manual" and row["private"] is False
    assert row["used_storage"] == 1234 and row["params"] == 7_000_000
    assert row["children_finetune"] == 2 and row["children_adapter"] == 1 and row["children_merge"] is None
    assert row["spaces_count"] == 3
    assert r.metrics == (10, 100, 3, 7)
    assert r.tags == ["license:mit", "a"]
    assert r.spaces == ["s/one", "s/two"]


def test_gated_false_is_the_string_false():
    assert normalise(item(gated=False)).row["gated"] == "false"


def test_normalise_leaves_the_payload_as_it_was():
    payload = item(downloads=5, likes=2, tags=["x"])
    before = copy.deepcopy(payload)
    r = normalise(payload)
    assert payload == before  # the same content (the metrics are popped for the hash and put back)
    raw = json.loads(r.row["raw"])
    # raw keeps what no column or child table holds exactly: not the metrics (columns and history)
    # nor the tags (model_tags), but a field hubdex doesn't know, and the id
    assert "downloads" not in raw and "likes" not in raw and "tags" not in raw
    assert raw["id"] == "org/model" and r.metrics[0] == 5 and r.tags == ["x"]


def test_raw_keeps_what_would_otherwise_be_lost():
    r = normalise(item(tags=["a", "a"], siblings=[{"rfilename": "x", "size": 3}], hotness="hot",
                       spaces=["s/one"], inferenceProviderMapping=[{"provider": "p", "extra": 1}], private="maybe"))
    raw = json.loads(r.row["raw"])
    assert raw["tags"] == ["a", "a"]  # a repeated tag is not in model_tags twice
    assert raw["siblings"] == [{"rfilename": "x", "size": 3}] and raw["hotness"] == "hot"
    assert raw["inferenceProviderMapping"] == [{"provider": "p", "extra": 1}] and raw["private"] == "maybe"
    assert "spaces" not in raw and r.spaces == ["s/one"]


@pytest.mark.parametrize("payload, reason", [
    (["not", "a", "dict"], "item is list, not an object"),
    ("text", "item is str, not an object"),
    ({"_id": "x"}, "item has no id"),
    ({"id": "", "_id": "x"}, "item has no id"),
    ({"id": 5, "_id": "x"}, "item has no id"),
    ({"id": "org/m"}, "item has no _id"),
    ({"id": "org/m", "_id": 7}, "item has no _id"),
    ({"id": "org/m", "_id": "x", "tags": ["ok", 3]}, "a tag that is not a string"),
    ({"id": "org/m", "_id": "x", "tags": "one"}, "field 'tags' is str, not a list"),
    ({"id": "org/m", "_id": "x", "usedStorage": "12"}, "field 'usedStorage' is str, not a number"),
    ({"id": "org/m", "_id": "x", "downloads": "12"}, "field 'downloads' is str, not a number"),
    ({"id": "org/m", "_id": "x", "sha": 12}, "field 'sha' is int, not a string"),
    ({"id": "org/m", "_id": "x", "siblings": [{"rfilename": "a", "size": 1}, {"size": 2}]},
     "a sibling without rfilename"),
])
def test_bad_items_say_why(payload, reason):
    with pytest.raises(BadItem) as e:
        normalise(payload)
    assert str(e.value) == reason
    assert isinstance(e.value, ValueError)


def test_figures_past_64_bits_are_unknown_or_text_never_an_insert_error():
    """Only a metric out of range quarantines its item (test_crawl_robustness); a size, a count or a
    provider field out of range is stored as unknown (a number column) or as text (a text column)."""
    big = 1 << 63
    r = normalise(item(safetensors={"total": big}, gguf={"context_length": big},
                       childrenModelCount={"finetune": big, "merge": 3},
                       siblings=[{"rfilename": "a.bin", "size": big}],
                       inferenceProviderMapping=[{"provider": "p", "providerId": big, "status": "live"}]))
    row = r.row
    assert row["params"] is None and row["context_length"] is None
    assert (row["children_finetune"], row["children_merge"]) == (None, 3)
    assert r.files[0][1] is None
    assert r.providers[0][1] == str(big)
    assert normalise(item(safetensors={"total": big - 1})).row["params"] == big - 1


def test_meta_hash_ignores_metrics_and_id():
    a = normalise(item(tags=["x"], downloads=1, likes=1, downloadsAllTime=1, trendingScore=1))
    b = normalise(item(id="org/renamed", modelId="org/renamed", tags=["x"], downloads=999, likes=50,
                       downloadsAllTime=5000, trendingScore=42))
    assert a.row["meta_hash"] == b.row["meta_hash"]
    assert a.metrics != b.metrics and a.id != b.id


def test_meta_hash_ignores_key_order():
    a = normalise({"id": "o/m", "_id": "x", "tags": ["t"], "sha": "s"})
    b = normalise({"sha": "s", "tags": ["t"], "_id": "x", "id": "o/m"})
    assert a.row["meta_hash"] == b.row["meta_hash"]


@pytest.mark.parametrize("change", [{"tags": ["x", "y"]}, {"tags": []}, {"sha": "new"},
                                    {"pipeline_tag": "fill-mask"}, {"cardData": {"license": "mit"}}])
def test_meta_hash_moves_when_metadata_changes(change):
    base = item(tags=["x"], sha="old")
    assert normalise(base).row["meta_hash"] != normalise({**base, **change}).row["meta_hash"]


def test_relations_from_base_models():
    r = normalise(item(baseModels={"relation": "quantized", "models": [{"id": "meta/llama"}, {"id": "meta/llama"},
                                                                      {"nope": 1}]},
                       tags=["base_model:finetune:other/base"]))
    assert r.relations == [("meta/llama", "quantized")]  # baseModels wins over the tags when present
    assert r.row["base_model_relation"] == "quantized"


def test_relations_from_base_model_tags():
    r = normalise(item(tags=["base_model:quantized:meta/llama", "base_model:meta/llama",
                             "base_model:finetune:a/b", "base_model:quantized:meta/llama",
                             "base_model:remix:c/d"]))
    assert r.relations == [("meta/llama", "quantized"), ("a/b", "finetune")]
    assert r.row["base_model_relation"] == "quantized"


def test_relations_tags_used_when_base_models_is_empty():
    r = normalise(item(baseModels={"relation": "adapter", "models": []}, tags=["base_model:adapter:x/y"]))
    assert r.relations == [("x/y", "adapter")]


PROVIDER_ROWS = [("together", "t/llama", "live", "conversational"), ("groq", "g/llama", "staging", None)]


def test_providers_list_form():
    r = normalise(item(inferenceProviderMapping=[
        {"provider": "together", "providerId": "t/llama", "status": "live", "task": "conversational"},
        {"provider": "groq", "providerId": "g/llama", "status": "staging"},
        {"providerId": "no-name"}, "junk"]))
    assert r.providers == PROVIDER_ROWS
    assert r.has_providers and r.row["providers_count"] == 2


def test_providers_dict_form():
    r = normalise(item(inferenceProviderMapping={
        "together": {"providerId": "t/llama", "status": "live", "task": "conversational"},
        "groq": {"providerId": "g/llama", "status": "staging"},
        "broken": "not a dict"}))
    assert r.providers == PROVIDER_ROWS
    assert r.row["providers_count"] == 2


def test_empty_provider_mapping_is_known_to_be_empty():
    r = normalise(item(inferenceProviderMapping=[]))
    assert r.providers == [] and r.has_providers and r.row["providers_count"] == 0


def test_files_from_listing_siblings():
    r = normalise(item(siblings=[{"rfilename": "config.json"}, {"rfilename": "model.safetensors"}]))
    assert r.files == [("config.json", None, None, None), ("model.safetensors", None, None, None)]
    assert r.has_files


def test_files_from_detail_siblings():
    r = normalise(item(siblings=[{"rfilename": "config.json", "size": 10, "blobId": "b1"},
                                 {"rfilename": "w.bin", "size": 99, "blobId": "b2", "lfs": {"sha256": "ff", "size": 99}}]))
    assert r.files == [("config.json", 10, "b1", None), ("w.bin", 99, "b2", "ff")]


def test_siblings_null_means_no_files_known():
    assert normalise(item(siblings=None)).has_files is False
    assert normalise(item(siblings=[])).has_files is True


def test_metrics_of():
    assert metrics_of({"id": "o/m", "_id": "x", "downloads": 5, "likes": 2}) == ("o/m", "x", (5, None, 2, None))
    assert metrics_of({"id": "o/m", "_id": "x", "downloads": 5.0, "downloadsAllTime": 9, "likes": 0,
                       "trendingScore": 3}) == ("o/m", "x", (5, 9, 0, 3))
    assert metrics_of({"id": "o/m", "_id": "x", "likes": True})[2] == (None, None, None, None)


@pytest.mark.parametrize("payload, reason", [
    ([1], "item is not an object"), ({"_id": "x"}, "item has no id"), ({"id": "o/m"}, "item has no id"),
    ({"id": "o/m", "_id": "x", "likes": "many"}, "field 'likes' is str, not a number"),
])
def test_metrics_of_bad_items(payload, reason):
    with pytest.raises(BadItem, match=reason):
        metrics_of(payload)
