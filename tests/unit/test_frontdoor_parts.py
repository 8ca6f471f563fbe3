"""The front door's pieces: key scopes, identity mapping, user ids as folder names, the
response ledger and its id sniffer, the routing table, hermes.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hermes.config.home import home_values, load_home, set_home_value
from hermes.errors import ConfigError, InvalidRequest
from hermes.frontdoor.identity import caller_for, claimed_ids
from hermes.frontdoor.keys import Grant, grant_of, key_store, scope_of
from hermes.frontdoor.ledger import SCAN_BYTES, IdSniffer, Ledger
from hermes.frontdoor.routes import Route, RouteTable
from hermes.memory.users import user_dir, user_key
from hermes.stores.keys import ApiKey

ALL_KEY = Grant("all", "h1", None, trust_identity=True)
ALICE_KEY = Grant("a", "h2", frozenset({"alice"}), trust_identity=True)
USERS = {"Alice@Example.com": ["alice", "research"], "*": ["research"]}


def test_a_key_with_no_readable_scope_reaches_nothing() -> None:
    for scope in (None, "", "[]", "{broken"):
        grant = grant_of(ApiKey("h", "x", "hfk_x", 0.0, scope=scope))
        assert not grant.allows("alice") and not grant.trust_identity
    every = grant_of(ApiKey("h", "x", "p", 0.0, scope=scope_of(None, trust_identity=False)))
    assert every.allows("anything")


def test_scopes_refuse_bad_profile_names() -> None:
    with pytest.raises(InvalidRequest):
        scope_of(["../etc"], trust_identity=False)
    with pytest.raises(InvalidRequest):
        scope_of([], trust_identity=False)
    assert json.loads(scope_of(["b", "a", "b"], trust_identity=True)) == {
        "profiles": ["a", "b"],
        "trust_identity": True,
    }


def test_front_door_keys_are_hashed_shown_once_and_revoked_live(tmp_path: Path) -> None:
    with key_store(tmp_path) as store:
        record, key = store.create("owui", scope=scope_of(None, trust_identity=True))
        assert key.startswith("hfk_") and record.prefix == key[:11]
        raw = (tmp_path / "frontdoor" / "keys.sqlite3").read_bytes()
        assert key.encode() not in raw
        found = store.check(key)
        assert found is not None and grant_of(found).trust_identity
        with key_store(tmp_path) as cli:  # another process: the CLI
            cli.revoke("owui")
        assert store.check(key) is None
        assert store.check("hk_" + key[4:]) is None  # a profile key's prefix is not this store's


def test_the_mapping_narrows_the_key_and_never_widens_it() -> None:
    alice = caller_for(ALICE_KEY, ["alice@example.com"], USERS)
    assert alice.may_use("alice") and not alice.may_use("research")  # the key has no research
    wide = caller_for(ALL_KEY, ["ALICE@example.com"], USERS)
    assert wide.may_use("research") and not wide.may_use("bob")
    stranger = caller_for(ALL_KEY, ["eve@example.com"], USERS)
    assert stranger.may_use("research") and not stranger.may_use("alice")  # the `*` entry
    nobody_listed = caller_for(ALL_KEY, ["eve"], {"bob": ["bob"]})
    assert not nobody_listed.may_use("bob") and not nobody_listed.may_use("alice")


def test_an_untrusted_key_ignores_every_claim() -> None:
    untrusted = Grant("u", "h", frozenset({"alice"}), trust_identity=False)
    caller = caller_for(untrusted, ["bob@example.com"], {"bob@example.com": ["bob"]})
    assert caller.user is None and caller.may_use("alice") and not caller.may_use("bob")


def test_no_mapping_keeps_the_keys_profiles_and_forwards_the_user() -> None:
    caller = caller_for(ALL_KEY, ["u-1"], {})
    assert caller.user == "u-1" and caller.may_use("anything")


def test_claimed_ids_come_in_order_and_hostile_ones_are_refused() -> None:
    headers = {"X-OpenWebUI-User-Id": "42", "X-OpenWebUI-User-Email": "a@x", "X-Me": "me"}
    assert claimed_ids(headers, "X-Me", "field") == ["a@x", "42", "me", "field"]
    assert claimed_ids({}, None, "  ") == []
    for bad in ("a\x00b", "x" * 129, "line\nbreak"):
        with pytest.raises(InvalidRequest):
            claimed_ids({"X-OpenWebUI-User-Email": bad}, None, None)


@pytest.mark.parametrize(
    "hostile",
    ["../bob", "..", ".", "/etc/passwd", "a/../../b", "x" * 5000, "nul\x00byte", "ユーザー",
     "~abc", "CON", " spaced out ", "a\\b"],
)  # fmt: skip
def test_user_ids_become_one_safe_folder_each(tmp_path: Path, hostile: str) -> None:
    key = user_key(hostile)
    assert key is not None and "/" not in key and "\x00" not in key and len(key) <= 64
    assert key not in (".", "..") and user_dir(tmp_path, key).parent == tmp_path / "users"
    assert user_key(hostile) == key  # stable: the same user gets the same folder every time


def test_plain_ids_stay_readable_and_hashes_cannot_be_forged() -> None:
    assert user_key("Alice@Example.com") == "alice@example.com"
    assert (
        user_key("0b8f6c2e-7a1d-4c3b-9f00-1234567890ab") == "0b8f6c2e-7a1d-4c3b-9f00-1234567890ab"
    )
    hashed = user_key("../bob")
    assert hashed is not None and hashed.startswith("~")
    assert user_key(hashed) != hashed  # a client sending a hashed name gets another folder
    assert user_key(None) is None and user_key("   ") is None


def test_the_ledger_answers_only_the_key_and_user_that_asked(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "r.sqlite3")
    ledger.open()
    ledger.record("resp_1", "alice", "key-a", "u1")
    assert ledger.profile_of("resp_1", "key-a", "u1") == "alice"
    assert ledger.profile_of("resp_1", "key-b", "u1") is None
    assert ledger.profile_of("resp_1", "key-a", "u2") is None
    assert ledger.profile_of("resp_1", "key-a", None) is None
    ledger.forget("resp_1")
    assert ledger.profile_of("resp_1", "key-a", "u1") is None
    ledger.close()


def test_the_sniffer_finds_the_response_id_across_pieces() -> None:
    sniffer = IdSniffer()
    stream = b'event: response.created\ndata: {"type":"x","response":{"id":"resp_ab12"}}\n\n'
    for i in range(0, len(stream), 5):
        sniffer.feed(stream[i : i + 5])
    assert sniffer.found == "resp_ab12"
    late = IdSniffer()
    late.feed(b" " * SCAN_BYTES + b'{"id":"resp_late"}')
    assert late.found is None
    items = IdSniffer()
    items.feed(b'{"id": "msg_1", "x": {"id": "resp_2"}}')
    assert items.found == "resp_2"  # only a response's id counts


def _route(profile: str, model: str) -> Route:
    return Route(profile, model, "127.0.0.1", 1, "hfd_x", {"id": model})


def test_the_table_finds_model_ids_before_profile_names() -> None:
    table = RouteTable([_route("alice", "bob"), _route("bob", "bobs-model")])
    found = table.find("bob")
    assert found is not None and found.profile == "alice"  # the advertised id wins
    by_name = table.find("bobs-model")
    assert by_name is not None and by_name.profile == "bob"
    assert table.find("carol") is None and table.profile("alice") is not None


def test_hermes_yaml_is_validated_and_listed(tmp_path: Path) -> None:
    assert load_home(tmp_path).frontdoor.port == 8640
    set_home_value(tmp_path, "frontdoor.users", "{a@x: ['*']}")
    with pytest.raises(ConfigError, match=r"frontdoor\.port"):
        set_home_value(tmp_path, "frontdoor.port", "0")
    with pytest.raises(ConfigError, match="header name"):
        set_home_value(tmp_path, "frontdoor.identity_header", "Bad Header:")
    for host in ("", " ", "0.0.0.0 evil"):  # "" would bind every interface
        with pytest.raises(ConfigError, match="host name or address"):
            set_home_value(tmp_path, "frontdoor.host", host)
    set_home_value(tmp_path, "frontdoor.host", "::1")
    with pytest.raises(ConfigError, match="mapping"):
        set_home_value(tmp_path, "frontdoor.users", "[alice]")
    sources = {key: source for key, _, source in home_values(tmp_path)}
    assert sources["frontdoor.users"] == "hermes.yaml" and sources["frontdoor.port"] == "default"
    (tmp_path / "hermes.yaml").write_text("frontdoor:\n  prot: 1\n")
    with pytest.raises(ConfigError, match="did you mean 'port'"):
        load_home(tmp_path)
