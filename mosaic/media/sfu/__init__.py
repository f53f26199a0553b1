"""The SFU's state: up tracks in, down tracks out, RTP forwarded and never decoded.

Router, publish and subscribe peers, tracks, layer allocation, active speaker, sequence
rewriting, packet cache and reception statistics. Speaks to the network only through the
transport package's narrow interface."""
