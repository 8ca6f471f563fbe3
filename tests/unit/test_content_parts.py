"""Image and file content parts: parsed from both APIs' shapes, hostile input refused with the
status and `param` a client can act on, and each provider's own image wire format."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from hermes.errors import HermesError, InvalidRequest, UnsupportedFileType
from hermes.messages import Image, Message, message_from_dict, message_to_dict
from hermes.wire import anthropic, gemini, ollama, openai_chat
from hermes.wire.content_parts import FilePart, ImagePart
from hermes.wire.openai_chat_request import parse_chat_request
from hermes.wire.openai_responses_request import parse_responses_request
from tests.media import JPEG, PNG, PNG_B64, PNG_URL, data_url


def chat_parts(*parts: dict[str, Any]) -> Any:
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, *parts]}]}
    return parse_chat_request(body)


def refused(*parts: dict[str, Any]) -> HermesError:
    with pytest.raises(HermesError) as caught:
        chat_parts(*parts)
    return caught.value


def test_a_chat_image_part_becomes_an_attachment_of_its_message() -> None:
    req = chat_parts({"type": "image_url", "image_url": {"url": PNG_URL, "detail": "low"}})
    assert req.messages == (Message("user", "hi"),)
    (att,) = req.attachments
    assert att.message == 0 and isinstance(att.part, ImagePart)
    assert att.part.image == Image("image/png", PNG_B64, detail="low")
    assert att.part.size == len(PNG) and att.part.param == "messages[0].content[1]"


def test_responses_parts_image_by_url_or_file_id_and_files() -> None:
    req = parse_responses_request(
        {
            "input": [
                {"role": "user", "content": "first"},
                {
                    "role": "user",
                    "content": [
                        {"type": "input_image", "image_url": "https://example.com/cat.JPG"},
                        {"type": "input_image", "file_id": "file-abc"},
                        {"type": "input_file", "file_data": data_url(b"a,b\n", "text/csv")},
                        {"type": "input_file", "file_id": "file-def", "filename": "x.md"},
                    ],
                },
            ]
        }
    )
    parts = [a.part for a in req.attachments]
    assert {a.message for a in req.attachments} == {1}
    assert parts[0] == ImagePart(
        "input[1].content[0]", Image("image/jpeg", url="https://example.com/cat.JPG")
    )
    assert parts[1] == ImagePart("input[1].content[1]", file_id="file-abc")
    assert parts[2] == FilePart("input[1].content[2]", b"a,b\n", "text/csv")
    assert parts[3] == FilePart("input[1].content[3]", file_id="file-def", filename="x.md")


def test_a_mislabelled_image_is_sent_as_what_its_bytes_are() -> None:
    req = chat_parts({"type": "image_url", "image_url": {"url": data_url(JPEG, "image/png")}})
    part = req.attachments[0].part
    assert isinstance(part, ImagePart) and part.image is not None
    assert part.image.media_type == "image/jpeg"


def test_chat_file_parts_take_a_data_url_raw_base64_or_an_id() -> None:
    raw = base64.b64encode(b"hello").decode()
    req = chat_parts(
        {"type": "file", "file": {"file_data": raw, "filename": "a.txt"}},
        {"type": "file", "file": {"file_id": "file-1"}},
    )
    assert [a.part for a in req.attachments] == [
        FilePart("messages[0].content[1]", b"hello", filename="a.txt"),
        FilePart("messages[0].content[2]", file_id="file-1"),
    ]


@pytest.mark.parametrize(
    ("part", "param", "status"),
    [
        # bad base64, in an image and in a file
        (
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@not*base64"}},
            "messages[0].content[1].image_url.url",
            400,
        ),
        (
            {"type": "file", "file": {"file_data": "data:text/plain;base64,%%%"}},
            "messages[0].content[1].file.file_data",
            400,
        ),
        # a data URL that is not base64, or no data URL at all
        (
            {"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}},
            "messages[0].content[1].image_url.url",
            400,
        ),
        (
            {"type": "image_url", "image_url": {"url": "data:image/png;base64"}},
            "messages[0].content[1].image_url.url",
            400,
        ),
        # wrong mime: not an image, or an image type no provider takes
        (
            {"type": "image_url", "image_url": {"url": data_url(b"hello", "text/plain")}},
            "messages[0].content[1].image_url.url",
            415,
        ),
        (
            {"type": "image_url", "image_url": {"url": data_url(PNG, "image/tiff")}},
            "messages[0].content[1].image_url.url",
            415,
        ),
        # declared an image, bytes are not one
        (
            {"type": "image_url", "image_url": {"url": data_url(b"GIF8 nope", "image/gif")}},
            "messages[0].content[1].image_url.url",
            400,
        ),
        # URLs the gateway will not hand on
        (
            {"type": "image_url", "image_url": {"url": "file:///etc/passwd"}},
            "messages[0].content[1].image_url.url",
            400,
        ),
        (
            {"type": "image_url", "image_url": {"url": "http://169.254.169.254/x.png"}},
            "messages[0].content[1].image_url.url",
            400,
        ),
        (
            {"type": "image_url", "image_url": {"url": "https://a.example/x\n.png"}},
            "messages[0].content[1].image_url.url",
            400,
        ),
        (
            {"type": "image_url", "image_url": {"url": 5}},
            "messages[0].content[1].image_url.url",
            400,
        ),
        ({"type": "image_url"}, "messages[0].content[1].image_url", 400),
        (
            {"type": "image_url", "image_url": {"url": PNG_URL, "detail": "ultra"}},
            "messages[0].content[1].detail",
            400,
        ),
        # files: neither or both of data and id, a bad id, a bad name
        ({"type": "file", "file": {}}, "messages[0].content[1].file.file_data", 400),
        (
            {"type": "file", "file": {"file_id": "f", "file_data": "aGk="}},
            "messages[0].content[1].file.file_data",
            400,
        ),
        ({"type": "file", "file": {"file_id": ""}}, "messages[0].content[1].file.file_id", 400),
        (
            {"type": "file", "file": {"file_id": "x" * 300}},
            "messages[0].content[1].file.file_id",
            400,
        ),
        (
            {"type": "file", "file": {"file_data": "aGk=", "filename": 7}},
            "messages[0].content[1].file.filename",
            400,
        ),
        ({"type": "file", "file": "aGk="}, "messages[0].content[1].file", 400),
        ({"type": "file", "file": {"file_data": ""}}, "messages[0].content[1].file.file_data", 400),
    ],
)
def test_hostile_parts_are_refused_naming_the_part(
    part: dict[str, Any], param: str, status: int
) -> None:
    error = refused(part)
    assert (error.status, error.param) == (status, param), error.message


def test_a_huge_data_url_is_decoded_once_and_its_size_kept_for_the_limit() -> None:
    big = PNG + b"\x00" * 3_000_000
    req = chat_parts({"type": "image_url", "image_url": {"url": data_url(big, "image/png")}})
    part = req.attachments[0].part
    assert isinstance(part, ImagePart) and part.size == len(big)


def test_base64_with_line_breaks_and_no_padding_is_read() -> None:
    wrapped = "\n".join(PNG_B64[i : i + 20] for i in range(0, len(PNG_B64), 20)).rstrip("=")
    req = chat_parts(
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + wrapped}}
    )
    part = req.attachments[0].part
    assert isinstance(part, ImagePart) and part.image is not None and part.image.data == PNG_B64


def test_unsupported_file_type_is_a_415_subclass() -> None:
    assert issubclass(UnsupportedFileType, HermesError) and UnsupportedFileType.status == 415
    assert issubclass(InvalidRequest, HermesError)


def test_a_message_with_images_round_trips_exactly() -> None:
    m = Message(
        "user",
        "",
        images=(Image("image/png", PNG_B64, detail="high"), Image("", url="https://a.example/x")),
    )
    assert message_from_dict(message_to_dict(m)) == m
    assert message_from_dict(message_to_dict(Message("user", "x"))) == Message("user", "x")
    with pytest.raises(ValueError):
        message_from_dict({"role": "user", "images": [{"media_type": "image/png"}]})


# --- each provider's own wire format ------------------------------------------------------

INLINE = Image("image/png", PNG_B64, detail="low")
LINK = Image("image/jpeg", url="https://example.com/cat.jpg")
MESSAGE = Message("user", "what is this?", images=(INLINE, LINK))


def test_openai_compatible_gets_image_url_parts() -> None:
    body = openai_chat.encode_chat_request([MESSAGE], model="m", stream=False)
    assert body["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": PNG_URL, "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "text", "text": "what is this?"},
    ]
    plain = openai_chat.encode_chat_request([Message("user", "hi")], model="m", stream=False)
    assert plain["messages"][0]["content"] == "hi"


def test_anthropic_gets_base64_and_url_image_blocks() -> None:
    body = anthropic.encode_request([MESSAGE], model="claude-3-5-sonnet")
    assert body["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "text", "text": "what is this?"},
    ]


def test_gemini_gets_inline_data_and_file_data() -> None:
    body = gemini.encode_request([MESSAGE])
    assert body["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
        {"fileData": {"fileUri": "https://example.com/cat.jpg", "mimeType": "image/jpeg"}},
        {"text": "what is this?"},
    ]


def test_ollama_gets_the_images_of_the_message() -> None:
    only_inline = Message("user", "what is this?", images=(INLINE,))
    body = ollama.encode_chat_request([only_inline], model="llava", stream=False)
    assert body["messages"][0] == {
        "role": "user",
        "content": "what is this?",
        "images": [PNG_B64],
    }
