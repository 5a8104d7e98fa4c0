"""Secret masking: whole words for short secrets, everywhere for long ones."""

from vmtui.core.redact import redact


def test_a_short_secret_is_masked_only_as_a_whole_word():
    assert redact("cannot connect with t", ["t"]) == "cannot connect with ***"
    assert redact("key=t;", ["t"]) == "key=***;"


def test_a_long_secret_is_masked_even_inside_other_text():
    secret = "s3cr3t-token-0123456789"
    assert redact(f"url?key={secret}&x", [secret]) == "url?key=***&x"
    assert redact(f"prefix{secret}suffix", [secret]) == "prefix***suffix"


def test_overlapping_secrets_mask_the_longer_first_and_empty_ones_are_ignored():
    assert redact("abcdefghij abcdefgh", ["abcdefgh", "abcdefghij", "", None]) == "*** ***"
    assert redact("nothing here", []) == "nothing here"
