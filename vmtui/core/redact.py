"""Masking secrets in text meant for people (error lines, notifications, logs).

A long secret is masked wherever it appears. A short one (a test token, a PIN) is masked only where
it stands as a whole word: a plain substring replace turned `cannot connect` into
`canno*** connec***` for the token `t`, mangling the message and telling the reader the token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
SHORT = 8  # below this many characters a secret is masked as a whole word only


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with each non-empty secret replaced by `***` (whole words only for short secrets)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(secret) >= SHORT:
            text = text.replace(secret, MASK)
        else:
            text = re.sub(rf"(?<!\w){re.escape(secret)}(?!\w)", MASK, text)
    return text
