"""Domain model and pure logic. Never imports textual, httpx or asyncssh."""
