"""The embedded terminal: emulator adapter, key encoding, mode scanner and transports."""
