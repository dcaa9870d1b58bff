"""The test server decodes every compressed frame of a request body, and notices a cut one."""

from __future__ import annotations

import gzip

import lz4.frame
import pytest
from backports import zstd

from tests.support.clickhouse_server import BodyDecoder, ClickHouseError

COMPRESS = {"lz4": lz4.frame.compress, "zstd": zstd.compress, "gzip": gzip.compress}
PARTS = [b"INSERT INTO t FORMAT CSV\n1\n", b"2\n3\n", b"4\n" * 10_000]


def decode(encoding: str, body: bytes, piece: int) -> bytes:
    decoder = BodyDecoder(encoding)
    out = b"".join(decoder.feed(body[i:i + piece]) for i in range(0, len(body), piece))
    decoder.finish()
    return out


@pytest.mark.parametrize("encoding", sorted(COMPRESS))
@pytest.mark.parametrize("piece", [1, 7, 1 << 16])
def test_every_frame_of_a_body_is_decoded_whatever_the_chunking(encoding: str, piece: int) -> None:
    body = b"".join(COMPRESS[encoding](part) for part in PARTS)

    assert decode(encoding, body, piece) == b"".join(PARTS)


@pytest.mark.parametrize("encoding", sorted(COMPRESS))
def test_a_body_cut_inside_a_frame_is_an_error(encoding: str) -> None:
    body = b"".join(COMPRESS[encoding](part) for part in PARTS)

    with pytest.raises(ClickHouseError):
        decode(encoding, body[:-5], 1 << 16)


def test_an_unknown_encoding_is_refused() -> None:
    with pytest.raises(ClickHouseError, match="Content-Encoding"):
        BodyDecoder("snappy")


def test_an_uncompressed_body_passes_unchanged() -> None:
    assert decode("", b"SELECT 1", 3) == b"SELECT 1"
