"""Secret masking: what a log line, an error or --validate-config may show of a secret."""

from __future__ import annotations

from pydantic import SecretStr

from collector.masking import mask_data, mask_text, mask_value

SECRET = "s3cret-Value-9"


def test_a_secret_shows_only_whether_it_is_set():
    assert mask_value(SECRET) == "*** (set)"
    assert mask_value(SecretStr(SECRET)) == "*** (set)"
    assert mask_value("") == "(empty)"
    assert mask_value(SecretStr("")) == "(empty)"


def test_credentials_inside_urls_are_removed_and_the_rest_of_the_url_kept():
    text = (f"amqp://collector:{SECRET}@mq1:5672/prod and http://proxy-user:{SECRET}@10.0.0.1:3128 "
            f"and postgresql://pg:{SECRET}@db/crypto")
    masked = mask_text(text)
    assert SECRET not in masked
    assert masked == ("amqp://collector:***@mq1:5672/prod and http://proxy-user:***@10.0.0.1:3128 "
                      "and postgresql://pg:***@db/crypto")


def test_text_without_credentials_is_unchanged():
    for text in ("http://127.0.0.1:9100/api/v5/market/tickers", "no url here", "user@host: 5 records"):
        assert mask_text(text) == text


def test_nested_data_masks_secret_keys_at_any_depth_and_urls_in_values():
    data = {
        "urls": {"api": {"rest": f"http://u:{SECRET}@127.0.0.1:9100"}},
        "headers": {"X-MBX-APIKEY": SECRET, "Accept": "application/json"},
        "apiKey": SECRET,
        "accounts": [{"password": SECRET, "name": "main"}],
        "token": "",
        "options": {"defaultType": "swap"},
    }
    masked = mask_data(data)
    assert SECRET not in repr(masked)
    assert masked == {
        "urls": {"api": {"rest": "http://u:***@127.0.0.1:9100"}},
        "headers": {"X-MBX-APIKEY": "*** (set)", "Accept": "application/json"},
        "apiKey": "*** (set)",
        "accounts": [{"password": "*** (set)", "name": "main"}],
        "token": "",  # an empty secret says nothing
        "options": {"defaultType": "swap"},
    }
    assert data["apiKey"] == SECRET, "the original is left untouched"


def test_secret_str_values_are_masked_wherever_they_are():
    assert mask_data([SecretStr(SECRET), 5, None]) == ["*** (set)", 5, None]
