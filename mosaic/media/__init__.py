"""The SFU: up tracks in, down tracks out, RTP forwarded and never decoded."""
