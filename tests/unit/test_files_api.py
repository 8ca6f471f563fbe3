"""/v1/files and attachments through the gateway app in-process: what the model is given for an
image or a file, where the file lands, the limits, and one API key's files hidden from another."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hermes.messages import Finish, Message, StreamEvent, TextDelta
from hermes.profiles import ProfileStore
from hermes.stores.keys import KeyStore
from tests.media import PNG, PNG_B64, PNG_URL, data_url, pdf
from tests.unit.test_gateway_app import Echo, GatewayClient, client_for

KEY = "sk-" + "a1b2c3d4" * 5


class Recording(Echo):
    """Answers "ok" and keeps the messages of every call."""

    def __init__(self) -> None:
        self.calls: list[list[Message]] = []

    async def stream(self, messages: Sequence[Message], **_: Any) -> AsyncIterator[StreamEvent]:
        self.calls.append(list(messages))
        yield TextDelta("ok")
        yield Finish("stop")


def auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def gateway(
    aiohttp_client: Any, store: ProfileStore, provider: Any, **settings: str
) -> GatewayClient:
    base = {"API_SERVER_KEY": KEY, "model.provider": "openai", "model.name": "gpt-4o"}
    return await client_for(aiohttp_client, store, provider, **{**base, **settings})


def user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": [{"type": "text", "text": "look"}, *parts]}]}


async def upload(
    client: GatewayClient,
    data: bytes,
    filename: str,
    *,
    purpose: str = "user_data",
    key: str = KEY,
) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("purpose", purpose)
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    return await client.post("/v1/files", data=form, headers=auth(key))


async def test_an_image_reaches_the_provider_on_its_message(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    rec = Recording()
    client = await gateway(aiohttp_client, store, rec)
    part = {"type": "image_url", "image_url": {"url": PNG_URL, "detail": "high"}}
    r = await client.post("/v1/chat/completions", json=user(part), headers=auth())
    assert r.status == 200, await r.text()
    last = rec.calls[0][-1]
    assert last.content == "look" and last.images[0].data == PNG_B64
    assert last.images[0].detail == "high"


async def test_an_image_for_a_text_only_model_is_400_naming_the_part(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    rec = Recording()
    client = await gateway(aiohttp_client, store, rec, **{"model.name": "gpt-3.5-turbo"})
    part = {"type": "image_url", "image_url": {"url": PNG_URL}}
    r = await client.post("/v1/chat/completions", json=user(part), headers=auth())
    body = await r.json()
    assert r.status == 400 and body["error"]["code"] == "image_not_supported"
    assert body["error"]["param"] == "messages[0].content[1]"
    assert (
        "'gpt-3.5-turbo'" in body["error"]["message"] and "model.vision" in body["error"]["message"]
    )
    assert rec.calls == []


async def test_limits_are_413_and_types_415(aiohttp_client: Any, store: ProfileStore) -> None:
    client = await gateway(
        aiohttp_client, store, Recording(), API_SERVER_MAX_IMAGE_BYTES="2048",
        API_SERVER_MAX_FILE_BYTES="4096",
    )  # fmt: skip
    big_image = {
        "type": "image_url",
        "image_url": {"url": data_url(PNG + b"\0" * 4000, "image/png")},
    }
    r = await client.post("/v1/chat/completions", json=user(big_image), headers=auth())
    assert r.status == 413 and (await r.json())["error"]["code"] == "file_too_large"
    big_file = {"type": "file", "file": {"file_data": data_url(b"x" * 5000, "text/plain")}}
    r = await client.post("/v1/chat/completions", json=user(big_file), headers=auth())
    assert r.status == 413 and "api_server.max_file_bytes" in (await r.json())["error"]["message"]
    exe = {
        "type": "file",
        "file": {"file_data": data_url(b"MZ\x90\x00", "application/x-msdownload")},
    }
    r = await client.post("/v1/chat/completions", json=user(exe), headers=auth())
    assert r.status == 415 and (await r.json())["error"]["code"] == "unsupported_file_type"
    r = await upload(client, b"y" * 5000, "big.txt")
    assert r.status == 413


async def test_a_file_is_saved_in_uploads_and_its_text_given_to_the_model(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    rec = Recording()
    client = await gateway(aiohttp_client, store, rec, API_SERVER_MAX_FILE_CHARS="20")
    part = {
        "type": "input_file",
        "filename": "../../../../etc/cron.d/evil.md",
        "file_data": data_url(b"# Plan\nStep one is to write tests first.", "text/markdown"),
    }
    body = {"input": [{"role": "user", "content": [{"type": "input_text", "text": "read"}, part]}]}
    r = await client.post("/v1/responses", json=body, headers=auth())
    assert r.status == 200, await r.text()
    workspace = store.get("default").workspace_dir
    saved = workspace / "uploads" / "evil.md"
    assert saved.read_bytes().startswith(b"# Plan")
    text = rec.calls[0][-1].content or ""
    assert text.startswith("read\n\n[file uploads/evil.md (text/markdown")
    assert "# Plan\nStep one is" in text and "write tests first" not in text
    assert "cut at 20 of its 40 characters" in text


async def test_a_pdf_by_file_id_in_chat(aiohttp_client: Any, store: ProfileStore) -> None:
    rec = Recording()
    client = await gateway(aiohttp_client, store, rec)
    r = await upload(client, pdf("The secret word is heliotrope"), "doc.pdf")
    assert r.status == 200, await r.text()
    file_id = (await r.json())["id"]
    part = {"type": "file", "file": {"file_id": file_id}}
    r = await client.post("/v1/chat/completions", json=user(part), headers=auth())
    assert r.status == 200, await r.text()
    text = rec.calls[0][-1].content or ""
    assert "heliotrope" in text and "[file uploads/doc.pdf (application/pdf" in text


async def test_files_crud_and_another_key_sees_none_of_them(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    client = await gateway(aiohttp_client, store, Recording())
    with KeyStore.for_profile(store.get("default")) as keys:
        _, other = keys.create("bob")
    r = await upload(client, b"hello notes", "notes.txt", purpose="assistants")
    made = await r.json()
    assert r.status == 200 and made["object"] == "file" and made["id"].startswith("file-")
    assert (made["bytes"], made["filename"], made["purpose"]) == (11, "notes.txt", "assistants")
    fid = made["id"]
    listed = await (await client.get("/v1/files", headers=auth())).json()
    assert [f["id"] for f in listed["data"]] == [fid] and listed["has_more"] is False
    assert (await (await client.get(f"/files/{fid}", headers=auth())).json()) == made
    content = await client.get(f"/v1/files/{fid}/content", headers=auth())
    assert await content.read() == b"hello notes"
    assert content.content_type == "application/octet-stream"
    # another key: 404 everywhere, an empty list, and its file_id use is a 404 too
    for path in (f"/v1/files/{fid}", f"/v1/files/{fid}/content"):
        assert (await client.get(path, headers=auth(other))).status == 404
    assert (await (await client.get("/v1/files", headers=auth(other))).json())["data"] == []
    assert (await client.delete(f"/v1/files/{fid}", headers=auth(other))).status == 404
    part = {"type": "file", "file": {"file_id": fid}}
    r = await client.post("/v1/chat/completions", json=user(part), headers=auth(other))
    assert r.status == 404 and (await r.json())["error"]["param"] == "messages[0].content[1]"
    # the owner deletes it; then it is gone
    gone = await client.delete(f"/v1/files/{fid}", headers=auth())
    assert (await gone.json()) == {"id": fid, "object": "file", "deleted": True}
    assert (await client.get(f"/v1/files/{fid}", headers=auth())).status == 404
    assert not list((store.get("default").state_dir / "files").iterdir())


async def test_an_uploaded_image_by_file_id_in_responses(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    rec = Recording()
    client = await gateway(aiohttp_client, store, rec)
    fid = (await (await upload(client, PNG, "pic.png", purpose="vision")).json())["id"]
    part = {"type": "input_image", "file_id": fid}
    body = {"input": [{"role": "user", "content": [part]}]}
    r = await client.post("/v1/responses", json=body, headers=auth())
    assert r.status == 200, await r.text()
    assert rec.calls[0][-1].images[0].data == base64.b64encode(PNG).decode()


@pytest.mark.parametrize(
    ("form", "status", "param"),
    [
        ({"purpose": "user_data"}, 400, "file"),
        ({"file": b"x"}, 400, "purpose"),
        ({"file": b"x", "purpose": "world-domination"}, 400, "purpose"),
        ({"file": b"\x00\x01binary", "purpose": "user_data"}, 415, None),
    ],
)
async def test_bad_uploads(
    aiohttp_client: Any, store: ProfileStore, form: dict[str, Any], status: int, param: str | None
) -> None:
    client = await gateway(aiohttp_client, store, Recording())
    data = aiohttp.FormData(default_to_multipart=True)
    for name, value in form.items():
        if isinstance(value, bytes):
            data.add_field(name, value, filename="f.bin")
        else:
            data.add_field(name, value)
    r = await client.post("/v1/files", data=data, headers=auth())
    assert r.status == status, await r.text()
    assert (await r.json())["error"]["param"] == param


async def test_uploads_must_be_multipart_and_the_store_is_bounded(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    client = await gateway(aiohttp_client, store, Recording(), API_SERVER_MAX_STORED_FILES="1")
    r = await client.post("/v1/files", json={"file": "x"}, headers=auth())
    assert r.status == 415
    assert (await upload(client, b"one", "1.txt")).status == 200
    r = await upload(client, b"two", "2.txt")
    assert r.status == 409 and (await r.json())["error"]["code"] == "file_limit_reached"


async def test_multipart_is_refused_on_every_other_route(
    aiohttp_client: Any, store: ProfileStore, tmp_path: Path
) -> None:
    client = await gateway(aiohttp_client, store, Recording())
    form = aiohttp.FormData()
    form.add_field("messages", "x")
    r = await client.post("/v1/chat/completions", data=form, headers=auth())
    assert r.status == 415


async def test_a_multipart_body_with_a_broken_part_header_is_400(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    """Found by Schemathesis: a control character in a part's Content-Disposition was a 500."""
    client = await gateway(aiohttp_client, store, Recording())
    b = "7db6b202167bdbb65f6f46fdea47d62d"
    body = (
        f'--{b}\r\nContent-Disposition: form-data; name=".<\u00e3\x1c"\r\n\r\nfalse\r\n'
        f'--{b}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nevals\r\n--{b}--\r\n'
    ).encode()
    headers = {**auth(), "Content-Type": f"multipart/form-data; boundary={b}"}
    r = await client.post("/v1/files", data=body, headers=headers)
    assert r.status == 400 and "malformed multipart body" in (await r.json())["error"]["message"]


@pytest.mark.parametrize("twice", ["file", "purpose"])
async def test_an_upload_with_two_files_or_two_purposes_is_400(
    aiohttp_client: Any, store: ProfileStore, twice: str
) -> None:
    """Found by a hostile run: the last `file` part was kept and the first silently lost."""
    client = await gateway(aiohttp_client, store, Recording())
    data = aiohttp.FormData(default_to_multipart=True)
    data.add_field("file", b"first", filename="a.txt")
    data.add_field("purpose", "user_data")
    if twice == "file":
        data.add_field("file", b"second", filename="b.txt")
    else:
        data.add_field("purpose", "vision")
    r = await client.post("/v1/files", data=data, headers=auth())
    assert r.status == 400, await r.text()
    assert (await r.json())["error"]["param"] == twice
    listed = await client.get("/v1/files", headers=auth())
    assert (await listed.json())["data"] == []


async def test_a_form_that_is_not_multipart_is_told_to_be_multipart(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    client = await gateway(aiohttp_client, store, Recording())
    r = await client.post("/v1/files", data={"purpose": "user_data"}, headers=auth())
    assert r.status == 415
    assert "multipart/form-data" in (await r.json())["error"]["message"]


async def test_a_file_that_lies_about_being_a_pdf_names_its_part(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    client = await gateway(aiohttp_client, store, Recording())
    part = {
        "type": "file",
        "file": {"filename": "x.pdf", "file_data": data_url(b"no header", "application/pdf")},
    }
    r = await client.post("/v1/chat/completions", json=user(part), headers=auth())
    assert r.status in (400, 415), await r.text()
    assert (await r.json())["error"]["param"] == "messages[0].content[1]"
